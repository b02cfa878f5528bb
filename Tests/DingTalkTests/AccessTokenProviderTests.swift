import DingTalk
import FakeDingTalk
import Synchronization
import XCTest

final class AccessTokenProviderTests: XCTestCase {
    func testConcurrentCallersShareOneFetchOverRealHTTP() async throws {
        try await withFakeServer { server, transport in
            let provider = AppAccessTokenProvider(appKey: "fake-app-key", appSecret: "fake-app-secret",
                                                  baseURL: server.baseURL, transport: transport)
            let tokens = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<50 { group.addTask { try await provider.token() } }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            XCTAssertEqual(tokens.count, 1)
            XCTAssertEqual(server.state.stats.tokenRequests, 1)
            let fetches = await provider.fetchCount
            XCTAssertEqual(fetches, 1)
        }
    }

    func testBadCredentialsSurfaceAsAConfigError() async throws {
        try await withFakeServer { server, transport in
            let provider = AppAccessTokenProvider(appKey: "fake-app-key", appSecret: "wrong", baseURL: server.baseURL, transport: transport)
            do {
                _ = try await provider.token()
                XCTFail("a wrong secret gave a token")
            } catch let error as AccessTokenError {
                XCTAssertEqual(error.result.outcomeClass, .config)
                XCTAssertEqual(error.result.code, "invalidClientIdOrSecret")
                XCTAssertEqual(error.result.httpStatus, 400)
                XCTAssertFalse("\(error)".contains("wrong"), "the secret must not appear in the error")
            } catch {
                XCTFail("unexpected \(error)")
            }
        }
    }

    func testExpiryTriggersExactlyOneRefresh() async throws {
        let clock = ManualClock()
        let counter = Mutex(0)
        let transport = ScriptedTransport { _ in
            let number = counter.withLock { $0 += 1; return $0 }
            return jsonResponse(200, #"{"accessToken":"token-\#(number)","expireIn":7200}"#)
        }
        let provider = AppAccessTokenProvider(appKey: "k", appSecret: "s", baseURL: "http://127.0.0.1:1", transport: transport,
                                              now: { clock.now() })
        let first = try await provider.token()
        let stillCached = try await provider.token()
        XCTAssertEqual([first, stillCached], ["token-1", "token-1"])
        // Past the refresh point (a tenth of the lifetime before expiry, at most 5 minutes).
        clock.advance(by: .seconds(7200 - 299))
        let refreshed = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<20 { group.addTask { try await provider.token() } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        XCTAssertEqual(refreshed, ["token-2"])
        XCTAssertEqual(transport.requests.count, 2)
        XCTAssertEqual(transport.requests.first?.url, "http://127.0.0.1:1/v1.0/oauth2/accessToken")
    }

    func testInvalidAuthenticationRefreshesOnceAndResends() async throws {
        let tokenFetches = Mutex(0)
        let transport = ScriptedTransport { request in
            if request.url.hasSuffix(DingTalkAPI.accessTokenPath) {
                let number = tokenFetches.withLock { $0 += 1; return $0 }
                return jsonResponse(200, #"{"accessToken":"token-\#(number)","expireIn":7200}"#)
            }
            let token = request.headers.first { $0.0 == DingTalkAPI.accessTokenHeader }?.1
            return token == "token-1"
                ? jsonResponse(400, #"{"code":"InvalidAuthentication","message":"expired","requestid":"X"}"#)
                : jsonResponse(200, #"{"result":true}"#)
        }
        let provider = AppAccessTokenProvider(appKey: "k", appSecret: "s", baseURL: "http://h", transport: transport)
        let client = DingTalkClient(baseURL: "http://h", tokenProvider: provider, transport: transport)
        async let first = client.apply(VisibilityGrant(toCorpIds: ["ding1"], optUserId: "u"))
        async let second = client.apply(VisibilityGrant(toCorpIds: ["ding2"], optUserId: "u"))
        let results = await [first, second]
        XCTAssertEqual(results.map(\.outcomeClass), [.success, .success])
        XCTAssertEqual(tokenFetches.withLock { $0 }, 2, "both refused calls must share one refresh")
    }

    func testAStaticTokenThatIsRefusedIsNotRetriedForever() async throws {
        let transport = ScriptedTransport { _ in jsonResponse(400, #"{"code":"InvalidAuthentication","message":"no","requestid":"X"}"#) }
        let client = DingTalkClient(baseURL: "http://h", tokenProvider: StaticAccessTokenProvider(token: "t"), transport: transport)
        let result = await client.apply(VisibilityGrant(toCorpIds: ["ding1"], optUserId: "u"))
        XCTAssertEqual(result.outcomeClass, .token)
        XCTAssertEqual(transport.requests.count, 2, "one send, one re-send after the refresh")
    }
}

/// When the token endpoint fails, no grant call is made: the result must say so,
/// so the job does not use an attempt for it.
final class TokenEndpointFailureTests: XCTestCase {
    private func apply(answering token: @escaping @Sendable () throws -> TransportResponse) async -> (APICallResult, Int) {
        let transport = ScriptedTransport { request in
            if request.url.hasSuffix(DingTalkAPI.accessTokenPath) { return try token() }
            return jsonResponse(200, #"{"result":true}"#)
        }
        let provider = AppAccessTokenProvider(appKey: "k", appSecret: "s", baseURL: "http://dingtalk.test", transport: transport)
        let client = DingTalkClient(baseURL: "http://dingtalk.test", tokenProvider: provider, transport: transport)
        let result = await client.apply(VisibilityGrant(toCorpIds: ["ding1"], optUserId: "u"))
        return (result, transport.requests.filter { $0.method == .PUT }.count)
    }

    func testA500FromTheTokenEndpointIsTransientAndNeverReachedTheGrantAPI() async {
        for body in ["", "<html><body>500 Internal Server Error</body></html>", #"{"code":"system.busy","message":"m"}"#] {
            let (result, puts) = await apply { TransportResponse(status: 500, headers: [], body: Array(body.utf8)) }
            XCTAssertEqual(result.outcomeClass, .transient, body)
            XCTAssertFalse(result.reachedAPI, "no grant call was made: \(body)")
            XCTAssertEqual(puts, 0)
        }
    }

    func testATimeoutOrResetAtTheTokenEndpointNeverReachedTheGrantAPI() async {
        for code in [LocalErrorCode.timeout, LocalErrorCode.connectionReset] {
            let (result, _) = await apply { throw TransportError(code: code, reachedServer: true, description: code) }
            XCTAssertEqual(result.outcomeClass, .transient, code)
            XCTAssertFalse(result.reachedAPI, code)
        }
    }

    func testBadCredentialsStillCountAsAnAnswerOfTheAPI() async {
        let (result, _) = await apply { jsonResponse(400, #"{"code":"invalidClientIdOrSecret","message":"m"}"#) }
        XCTAssertEqual(result.outcomeClass, .config)
    }
}
