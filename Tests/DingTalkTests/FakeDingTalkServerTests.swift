import DingTalk
import FakeDingTalk
import Foundation
import NIOHTTP1
import XCTest

/// The fake answers as docs/DESIGN.md, Answer table, says the real API does.
final class FakeDingTalkServerTests: XCTestCase {
    private func put(_ server: FakeDingTalkServer, _ transport: AsyncHTTPClientTransport, token: String?, body: String) async throws -> TransportResponse {
        var headers = [("Content-Type", "application/json")]
        if let token { headers.append((DingTalkAPI.accessTokenHeader, token)) }
        return try await transport.send(TransportRequest(method: .PUT, url: server.baseURL + DingTalkAPI.grantPath,
                                                         headers: headers, body: Array(body.utf8)))
    }

    private func errorBody(_ response: TransportResponse) throws -> [String: String] {
        try JSONDecoder().decode([String: String].self, from: Data(response.body))
    }

    func testAuthenticationErrorsHaveTheRealShape() async throws {
        var options = FakeDingTalkOptions()
        options.staticTokens = ["good"]
        try await withFakeServer(options) { server, transport in
            let missing = try await put(server, transport, token: nil, body: #"{"toCorpIds":["ding1"],"optUserId":"u"}"#)
            XCTAssertEqual(missing.status, 400)
            let missingBody = try errorBody(missing)
            XCTAssertEqual(missingBody["code"], "AuthenticationFailed.MissingParameter")
            XCTAssertEqual(Set(missingBody.keys), ["code", "message", "requestid"])
            XCTAssertEqual(missingBody["requestid"], missing.header("x-acs-request-id"))

            let unknown = try await put(server, transport, token: "nope", body: #"{"toCorpIds":["ding1"],"optUserId":"u"}"#)
            XCTAssertEqual(unknown.status, 400)
            XCTAssertEqual(try errorBody(unknown)["code"], "InvalidAuthentication")

            let ok = try await put(server, transport, token: "good", body: #"{"toCorpIds":["ding1"],"optUserId":"u","fields":["status"]}"#)
            XCTAssertEqual(ok.status, 200)
            XCTAssertEqual(String(decoding: ok.body, as: UTF8.self), #"{"result":true}"#)
            XCTAssertNotNil(ok.header("x-acs-request-id"))
            XCTAssertEqual(server.state.applied, [VisibilityGrant(toCorpIds: ["ding1"], optUserId: "u", fields: ["status"])])
        }
    }

    func testTokensExpireAndTheSameTokenComesBackWhileValid() async throws {
        let clock = ManualClock()
        var options = FakeDingTalkOptions()
        options.tokenTTL = .seconds(1)
        options.now = { clock.now() }
        try await withFakeServer(options) { server, transport in
            func fetch(secret: String = "fake-app-secret") async throws -> TransportResponse {
                try await transport.send(TransportRequest(method: .POST, url: server.baseURL + DingTalkAPI.accessTokenPath,
                                                          headers: [("Content-Type", "application/json")],
                                                          body: Array(#"{"appKey":"fake-app-key","appSecret":"\#(secret)"}"#.utf8)))
            }
            struct Answer: Decodable { let accessToken: String; let expireIn: Int }
            let first = try JSONDecoder().decode(Answer.self, from: Data(try await fetch().body))
            let second = try JSONDecoder().decode(Answer.self, from: Data(try await fetch().body))
            XCTAssertEqual(first.accessToken, second.accessToken)
            XCTAssertEqual(first.expireIn, 1)

            let refused = try await fetch(secret: "wrong")
            XCTAssertEqual(refused.status, 400)
            XCTAssertEqual(try errorBody(refused)["code"], "invalidClientIdOrSecret")

            let body = #"{"toCorpIds":["ding1"],"optUserId":"u"}"#
            let fresh = try await put(server, transport, token: first.accessToken, body: body)
            XCTAssertEqual(fresh.status, 200)
            clock.advance(by: .milliseconds(999))
            let stillValid = try await put(server, transport, token: first.accessToken, body: body)
            XCTAssertEqual(stillValid.status, 200, "valid until the end of its lifetime")
            clock.advance(by: .milliseconds(1))
            let expired = try await put(server, transport, token: first.accessToken, body: body)
            XCTAssertEqual(try errorBody(expired)["code"], "InvalidAuthentication")
        }
    }

    func testBadBodiesAreInvalidParam() async throws {
        var options = FakeDingTalkOptions()
        options.staticTokens = ["t"]
        try await withFakeServer(options) { server, transport in
            for body in ["not json", #"{"optUserId":"u"}"#, #"{"toCorpIds":[],"optUserId":"u"}"#,
                         #"{"toCorpIds":["corp1"],"optUserId":"u"}"#, #"{"toCorpIds":["ding1"],"optUserId":"u","fields":["email"]}"#] {
                let response = try await put(server, transport, token: "t", body: body)
                XCTAssertEqual(response.status, 400, body)
                XCTAssertEqual(try errorBody(response)["code"], "invalid.param", body)
            }
            let gone = try await put(server, transport, token: "t", body: #"{"toCorpIds":["ding1"],"optUserId":"nonexistent-7"}"#)
            XCTAssertEqual(try errorBody(gone)["code"], "employee.not.exist")
            XCTAssertEqual(server.state.applied, [])
        }
    }

    func testQPSLimitAnswers403PerAppKey() async throws {
        var options = FakeDingTalkOptions()
        options.staticTokens = ["t"]
        options.qps = 5
        try await withFakeServer(options) { server, transport in
            var statuses: [Int] = []
            for index in 0..<8 {
                let response = try await put(server, transport, token: "t", body: #"{"toCorpIds":["ding\#(index)"],"optUserId":"u"}"#)
                statuses.append(response.status)
                if response.status == 403 {
                    XCTAssertEqual(try errorBody(response)["code"], "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi")
                }
            }
            XCTAssertEqual(statuses.filter { $0 == 200 }.count, 5, "\(statuses)")
            XCTAssertEqual(statuses.filter { $0 == 403 }.count, 3, "\(statuses)")
        }
    }

    /// Each call's decision (token, QPS window, faults, counts) is made under one lock:
    /// with the clock held still, every call falls in one window, so exactly `qps` of
    /// many concurrent calls are let through, and no snapshot of the counters, taken
    /// while they run, holds half of a call.
    func testConcurrentCallsAreDecidedWholeAgainstOneWindow() async throws {
        let clock = ManualClock()
        var options = FakeDingTalkOptions()
        options.staticTokens = ["t"]
        options.qps = 40
        options.now = { clock.now() }
        options.faults = try .init(parsing: "system.busy=0.2")
        let server = try await FakeDingTalkServer.start(options: options, threads: 2)
        var transportOptions = AsyncHTTPClientTransport.Options()
        transportOptions.maxConnectionsPerHost = 32
        let transport = try AsyncHTTPClientTransport(options: transportOptions)
        let storm = 600
        let qps = "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"
        let snapshots = Task.detached {
            var seen: [FakeDingTalkState.Stats] = []
            while !Task.isCancelled {
                seen.append(server.state.stats)
                await Task.yield()
            }
            return seen
        }
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<storm {
                let request = TransportRequest(method: .PUT, url: server.baseURL + DingTalkAPI.grantPath,
                                               headers: [(DingTalkAPI.accessTokenHeader, "t")],
                                               body: Array(#"{"toCorpIds":["ding\#(index)"],"optUserId":"u"}"#.utf8))
                group.addTask { try await transport.send(request).status }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        snapshots.cancel()
        let seen = await snapshots.value
        try await transport.shutdown()
        try await server.shutdown()

        let stats = server.state.stats
        XCTAssertEqual(statuses.filter { $0 == 200 }.count, stats.applied)
        XCTAssertEqual(statuses.filter { $0 == 403 }.count, stats.codes[qps])
        XCTAssertEqual(stats.calls, storm)
        XCTAssertEqual(stats.apps["fake-app-key"]?.calls, storm)
        // Every call the window let in was applied or drew system.busy; none more.
        XCTAssertEqual(stats.applied + stats.codes["system.busy", default: 0], 40, "\(stats)")
        XCTAssertEqual(stats.codes[qps], storm - 40, "\(stats)")
        XCTAssertGreaterThan(seen.count, 1)
        let halfCounted = seen.first { snapshot in
            let app = snapshot.apps["fake-app-key"] ?? .init()
            return snapshot.calls != app.calls || snapshot.applied != app.applied
                || app.calls != app.applied + app.codes.values.reduce(0, +)
                || snapshot.applied + snapshot.codes["system.busy", default: 0] > 40
        }
        XCTAssertNil(halfCounted, "a call counted in one place and not yet in another (of \(seen.count) snapshots)")
    }

    func testSeveralAppsEachWithTheirOwnLimitCountsAndFault() async throws {
        var options = FakeDingTalkOptions()
        options.apps = ["key-a": "secret-a", "key-b": "secret-b"]
        options.appFaults = ["key-b": "Forbidden.AccessDenied.IpNotInWhiteList"]
        options.qps = 3
        try await withFakeServer(options) { server, transport in
            func token(_ key: String, _ secret: String) async throws -> TransportResponse {
                try await transport.send(TransportRequest(method: .POST, url: server.baseURL + DingTalkAPI.accessTokenPath,
                                                          headers: [("Content-Type", "application/json")],
                                                          body: Array(#"{"appKey":"\#(key)","appSecret":"\#(secret)"}"#.utf8)))
            }
            struct Answer: Decodable { let accessToken: String }
            let crossed = try await token("key-a", "secret-b")
            XCTAssertEqual(try errorBody(crossed)["code"], "invalidClientIdOrSecret", "secrets are per app")
            let tokenA = try JSONDecoder().decode(Answer.self, from: Data(try await token("key-a", "secret-a").body)).accessToken
            let tokenB = try JSONDecoder().decode(Answer.self, from: Data(try await token("key-b", "secret-b").body)).accessToken
            var statusesA: [Int] = []
            for index in 0..<4 {
                statusesA.append(try await put(server, transport, token: tokenA, body: #"{"toCorpIds":["ding\#(index)"],"optUserId":"u"}"#).status)
            }
            XCTAssertEqual(statusesA, [200, 200, 200, 403], "a's own window")
            let refused = try await put(server, transport, token: tokenB, body: #"{"toCorpIds":["ding1"],"optUserId":"u"}"#)
            XCTAssertEqual(refused.status, 403)
            XCTAssertEqual(try errorBody(refused)["code"], "Forbidden.AccessDenied.IpNotInWhiteList")
            let stats = server.state.stats
            XCTAssertEqual(stats.apps["key-a"], .init(calls: 4, applied: 3, codes: ["Forbidden.AccessDenied.QpsLimitForAppkeyAndApi": 1]))
            XCTAssertEqual(stats.apps["key-b"], .init(calls: 1, applied: 0, codes: ["Forbidden.AccessDenied.IpNotInWhiteList": 1]))
        }
    }

    func testFaultsAreInjectedAndClassified() async throws {
        for (fault, expected) in [("system.busy=1", "system.busy"), ("html=1", "http.502"),
                                  ("reset=1", LocalErrorCode.connectionReset), ("timeout=1", LocalErrorCode.timeout)] {
            var options = FakeDingTalkOptions()
            options.staticTokens = ["t"]
            options.faults = try .init(parsing: fault)
            try await withFakeServer(options) { server, transport in
                let client = DingTalkClient(baseURL: server.baseURL, tokenProvider: StaticAccessTokenProvider(token: "t"), transport: transport)
                let result = await client.apply(VisibilityGrant(toCorpIds: ["ding1"], optUserId: "u"))
                XCTAssertEqual(result.code, expected, fault)
                XCTAssertNotEqual(result.outcomeClass, .success, fault)
                XCTAssertEqual(server.state.applied, [], "a faulted call must not apply the grant")
            }
        }
    }

    func testFaultOptionsAreValidated() {
        XCTAssertThrowsError(try FakeDingTalkOptions.FaultRates(parsing: "explode=0.1"))
        XCTAssertThrowsError(try FakeDingTalkOptions.FaultRates(parsing: "system.busy=2"))
        XCTAssertThrowsError(try FakeDingTalkOptions.FaultRates(parsing: "system.busy=0.6,reset=0.6"))
        XCTAssertEqual(try FakeDingTalkOptions.FaultRates(parsing: "system.busy=0.1,timeout=0.01").systemBusy, 0.1)
    }

    func testTheClientSendsTheExactRequest() async throws {
        var options = FakeDingTalkOptions()
        options.staticTokens = ["tok"]
        options.recordRequests = true
        try await withFakeServer(options) { server, transport in
            let client = DingTalkClient(baseURL: server.baseURL + "/", tokenProvider: StaticAccessTokenProvider(token: "tok"), transport: transport)
            let withoutFields = await client.apply(VisibilityGrant(toCorpIds: ["ding1", "ding2"], optUserId: "用户"))
            let withFields = await client.apply(VisibilityGrant(toCorpIds: ["ding3"], optUserId: "u", fields: ["mobile", "status"]))
            XCTAssertEqual([withoutFields.outcomeClass, withFields.outcomeClass], [.success, .success])
            XCTAssertEqual(server.state.applied, [
                VisibilityGrant(toCorpIds: ["ding1", "ding2"], optUserId: "用户"),
                VisibilityGrant(toCorpIds: ["ding3"], optUserId: "u", fields: ["mobile", "status"]),
            ])
            struct Recorded: Decodable { let method: String; let path: String; let headers: [String: String]; let body: String }
            let listing = try await transport.send(TransportRequest(method: .GET, url: server.baseURL + "/__fake/requests", headers: [], body: []))
            let recorded = try JSONDecoder().decode([Recorded].self, from: Data(listing.body))
            XCTAssertEqual(recorded.map(\.method), ["PUT", "PUT"])
            XCTAssertEqual(recorded.map(\.path), [DingTalkAPI.grantPath, DingTalkAPI.grantPath])
            XCTAssertEqual(recorded.map { $0.headers["x-acs-dingtalk-access-token"] }, ["tok", "tok"])
            XCTAssertEqual(recorded.map { $0.headers["content-type"] }, ["application/json", "application/json"])
            let first = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(recorded[0].body.utf8)) as? [String: Any])
            XCTAssertEqual(Set(first.keys), ["toCorpIds", "optUserId"], "empty fields must be left out")
            let second = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(recorded[1].body.utf8)) as? [String: Any])
            XCTAssertEqual(second["fields"] as? [String], ["mobile", "status"])
        }
    }

    func testScriptedAnswersComeFirstThenNormalService() async throws {
        var options = FakeDingTalkOptions()
        options.staticTokens = ["tok"]
        options.recordRequests = true
        try await withFakeServer(options) { server, transport in
            func admin(_ method: HTTPMethod, _ path: String, _ body: String = "") async throws -> TransportResponse {
                try await transport.send(TransportRequest(method: method, url: server.baseURL + path, headers: [], body: Array(body.utf8)))
            }
            let refused = try await admin(.PUT, "/__fake/script", #"[{"code":"not.in.the.table"}]"#)
            XCTAssertEqual(refused.status, 400, "a code outside the table needs a status")
            let scripted = try await admin(.PUT, "/__fake/script",
                                           #"[{"code":"Forbidden.AccessDenied.ApiCountLimitForOrg","requestId":"R-1","times":2},{"code":"x.y","status":418}]"#)
            XCTAssertEqual(scripted.status, 200)

            let client = DingTalkClient(baseURL: server.baseURL, tokenProvider: StaticAccessTokenProvider(token: "tok"), transport: transport)
            let grant = VisibilityGrant(toCorpIds: ["ding1"], optUserId: "u")
            let results = [await client.apply(grant), await client.apply(grant), await client.apply(grant), await client.apply(grant)]
            XCTAssertEqual(results.map(\.outcomeClass), [.quota, .quota, .terminal, .success])
            XCTAssertEqual(results.map(\.httpStatus), [403, 403, 418, 200])
            XCTAssertEqual(results.prefix(2).map(\.requestID), ["R-1", "R-1"])
            XCTAssertEqual(server.state.applied, [grant], "scripted answers apply nothing")

            struct Recorded: Decodable { let status: Int?; let requestId: String? }
            let listing = try await admin(.GET, "/__fake/requests")
            let recorded = try JSONDecoder().decode([Recorded].self, from: Data(listing.body))
            XCTAssertEqual(recorded.map(\.status), [403, 403, 418, 200])
            XCTAssertEqual(recorded.map(\.requestId), results.map(\.requestID), "the record holds the id each answer carried")

            struct Row: Decodable { let code: String; let httpStatus: Int; let outcomeClass: String }
            let table = try JSONDecoder().decode([Row].self, from: Data(try await admin(.GET, "/__fake/error-codes").body))
            XCTAssertEqual(table.map(\.code), DingTalkErrorCode.all.map(\.code))
        }
    }

    /// Each row of issue 27's table can be scripted, and the client classes it by the status first.
    func testScriptedGatewayAnswersAndTokenFailures() async throws {
        try await withFakeServer { server, transport in
            XCTAssertTrue(server.state.script(json: """
                [{"fault":"html","status":502},{"fault":"text","status":429},
                 {"code":"Throttling","status":429,"message":"Request was denied due to flow control."},
                 {"fault":"empty","status":503},{"fault":"ban"},{"fault":"html","status":403},
                 {"endpoint":"token","fault":"html","status":500,"times":3}]
                """))
            XCTAssertFalse(server.state.script(json: #"[{"fault":"explode"}]"#))
            let provider = AppAccessTokenProvider(appKey: server.state.options.appKey, appSecret: server.state.options.appSecret,
                                                  baseURL: server.baseURL, transport: transport)
            let client = DingTalkClient(baseURL: server.baseURL, tokenProvider: provider, transport: transport)
            let grant = VisibilityGrant(toCorpIds: ["ding1"], optUserId: "u")
            var tokenFailures: [APICallResult] = []
            for _ in 0..<3 { tokenFailures.append(await client.apply(grant)) }
            XCTAssertEqual(tokenFailures.map(\.outcomeClass), [.transient, .transient, .transient])
            XCTAssertEqual(tokenFailures.map(\.httpStatus), [500, 500, 500])
            XCTAssertEqual(tokenFailures.map(\.reachedAPI), [false, false, false], "no grant call was made")
            XCTAssertEqual(server.state.stats.calls, 0)

            var results: [APICallResult] = []
            for _ in 0..<7 { results.append(await client.apply(grant)) }
            XCTAssertEqual(results.map(\.outcomeClass), [.transient, .throttled, .throttled, .transient, .banned, .transient, .success])
            XCTAssertEqual(results.map(\.httpStatus), [502, 429, 429, 503, 200, 403, 200])
            XCTAssertEqual(results.map(\.code), ["http.502", "http.429", "Throttling", "http.503", LocalErrorCode.punished,
                                                  LocalErrorCode.nonJSONBody, nil])
            XCTAssertTrue(results[0].message?.contains("nginx") == true, results[0].message ?? "")
            XCTAssertEqual(server.state.applied, [grant])
        }
    }
}
