import DingTalk
import FakeDingTalk
import Foundation
import HTTPServerSupport
import XCTest

/// Each kind of failure that leaves no response, made by a real socket, and the
/// name the transport gives it: the name decides whether an attempt is used
/// (`reachedServer`) and whether the process pauses (`config` for the proxy's faults).
final class TransportErrorTests: XCTestCase {
    private let proxyPassword = "pr0xy-s3cret"

    /// Sends one GET to `url` and returns the failure (nil when an answer came).
    private func failure(of url: String, egress: EgressConfiguration = EgressConfiguration(),
                         timeout: Duration = .seconds(2)) async throws -> TransportError? {
        var options = AsyncHTTPClientTransport.Options()
        options.connectTimeout = .seconds(1)
        options.requestTimeout = timeout
        options.egress = egress
        let transport = try AsyncHTTPClientTransport(options: options)
        var caught: TransportError?
        do {
            _ = try await transport.send(TransportRequest(method: .GET, url: url, headers: [], body: []))
        } catch let error as TransportError {
            caught = error
        }
        try await transport.shutdown()
        return caught
    }

    private func assertFailure(_ failure: TransportError?, code: String, reachedServer: Bool, outcomeClass: APIOutcomeClass = .transient,
                               file: StaticString = #filePath, line: UInt = #line) {
        guard let failure else { return XCTFail("an answer came back", file: file, line: line) }
        XCTAssertEqual(failure.code, code, failure.description, file: file, line: line)
        XCTAssertEqual(failure.reachedServer, reachedServer, failure.description, file: file, line: line)
        XCTAssertEqual(failure.result.outcomeClass, outcomeClass, file: file, line: line)
    }

    func testAClosedPortIsRefusedAndTheRequestNeverLeft() async throws {
        let port = try freeLocalPort()
        assertFailure(try await failure(of: "http://127.0.0.1:\(port)/x"), code: LocalErrorCode.connectionRefused, reachedServer: false)
    }

    func testAConnectionResetAfterTheRequestMayHaveReachedTheServer() async throws {
        let server = try await ScriptedSocketServer(.reset)
        let result = try await failure(of: "http://127.0.0.1:\(server.port)/x")
        try await server.shutdown()
        assertFailure(result, code: LocalErrorCode.connectionReset, reachedServer: true)
    }

    func testAnUntrustedCertificateIsATLSErrorBeforeAnythingWasSent() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let server = try await FakeDingTalkServer.start(options: FakeDingTalkOptions(), threads: 1,
                                                        tls: .init(certificateFile: certificates.serverCertificateFile,
                                                                   privateKeyFile: certificates.serverKeyFile))
        let untrusted = try await failure(of: server.baseURL + "/__fake/stats")
        // The same server, trusted through the private CA, answers.
        let trusted = try await failure(of: server.baseURL + "/__fake/stats",
                                        egress: EgressConfiguration(additionalCertificateFiles: [certificates.caFile]))
        try await server.shutdown()
        assertFailure(untrusted, code: LocalErrorCode.tlsError, reachedServer: false)
        XCTAssertNil(trusted, trusted?.description ?? "")
    }

    func testAnAnswerThatNeverComesIsATimeoutThatMayHaveReachedTheServer() async throws {
        var options = FakeDingTalkOptions()
        options.faults = try .init(parsing: "timeout=1")
        options.staticTokens = ["t"]
        let server = try await FakeDingTalkServer.start(options: options, threads: 1)
        var transportOptions = AsyncHTTPClientTransport.Options()
        transportOptions.requestTimeout = .milliseconds(500)
        let transport = try AsyncHTTPClientTransport(options: transportOptions)
        let client = DingTalkClient(baseURL: server.baseURL, tokenProvider: StaticAccessTokenProvider(token: "t"), transport: transport)
        let result = await client.apply(VisibilityGrant(toCorpIds: ["ding1"], optUserId: "u"))
        try await transport.shutdown()
        try await server.shutdown()
        XCTAssertEqual(result.code, LocalErrorCode.timeout)
        XCTAssertTrue(result.reachedAPI)
        XCTAssertEqual(result.outcomeClass, .transient)
    }

    func testAProxyThatIsDownRefusesTheTunnelOrWantsCredentialsIsTheRoadsFaultNotDingTalks() async throws {
        let deadPort = try freeLocalPort()
        let dead = try ProxySettings(url: "http://user:\(proxyPassword)@127.0.0.1:\(deadPort)", source: "test")
        assertFailure(try await failure(of: "https://127.0.0.1:9/x", egress: EgressConfiguration(proxy: dead)),
                      code: LocalErrorCode.proxyUnreachable, reachedServer: false, outcomeClass: .config)

        for (answer, code) in [("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"p\"\r\nContent-Length: 0\r\n\r\n",
                                LocalErrorCode.proxyAuthenticationRequired),
                               ("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", LocalErrorCode.proxyTunnelRefused),
                               ("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", LocalErrorCode.proxyTunnelRefused)] {
            let proxyServer = try await ScriptedSocketServer(.answer(answer))
            let proxyPort = proxyServer.port
            let proxy = try ProxySettings(url: "http://user:\(proxyPassword)@127.0.0.1:\(proxyPort)", source: "test")
            let result = try await failure(of: "https://127.0.0.1:9/x", egress: EgressConfiguration(proxy: proxy))
            try await proxyServer.shutdown()
            assertFailure(result, code: code, reachedServer: false, outcomeClass: .config)
            let message = result?.description ?? ""
            XCTAssertTrue(message.contains("http://127.0.0.1:\(proxyPort)"), "the proxy is named: \(message)")
            XCTAssertFalse(message.contains(proxyPassword), "credentials leaked: \(message)")
            let status = String(answer.dropFirst("HTTP/1.1 ".count).prefix(3))
            XCTAssertTrue(message.contains(status), "the proxy's status is named: \(message)")
        }
    }
}
