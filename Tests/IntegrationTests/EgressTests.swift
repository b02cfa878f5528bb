import DingTalk
import FakeDingTalk
import Foundation
import HTTPServerSupport
import XCTest

/// The road to the API as production has it: HTTPS with a private CA, HTTP/2,
/// and a real forward proxy (tinyproxy) with and without authentication. Worker
/// processes, the fake over TLS, PostgreSQL.
final class EgressTests: DatabaseTestCase {
    private var certificates: TestCertificates!
    private var proxies: [Tinyproxy] = []
    private let proxyPassword = "pr0xy-s3cret-pw"

    override func setUpWithError() throws {
        try super.setUpWithError()
        certificates = try TestCertificates()
    }

    override func tearDown() {
        proxies.forEach { $0.stop() }
        proxies = []
        certificates?.remove()
        super.tearDown()
    }

    private func startTLSFake(latency: Duration = .zero) async throws -> FakeDingTalkServer {
        try await startFake(tls: .init(certificateFile: certificates.serverCertificateFile, privateKeyFile: certificates.serverKeyFile)) {
            $0.latency = latency
        }
    }

    private func startProxy(basicAuth: (user: String, password: String)? = nil) throws -> Tinyproxy {
        let proxy = try Tinyproxy(basicAuth: basicAuth, testCase: self)
        proxies.append(proxy)
        return proxy
    }

    /// Runs one worker until the queue is empty and checks it succeeded.
    private func runToEmpty(_ server: FakeDingTalkServer, arguments: [String] = [], environment: [String: String] = [:],
                            file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        let result = try runWorker(["run", "--until-empty", "--concurrency", "8", "--poll-interval", "100ms"] + arguments,
                                   environment: try workerEnvironment(server).merging(environment) { $1 }, timeout: .seconds(60))
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        return result
    }

    func testTheWorkerTrustsAPrivateCAGivenEachWayAndRefusesTheServerWithoutIt() async throws {
        let server = try await startTLSFake()
        XCTAssertTrue(server.baseURL.hasPrefix("https://127.0.0.1:"), server.baseURL)
        let ways: [(String, [String], [String: String])] = [
            ("--ca-file", ["--ca-file", certificates.caFile], [:]),
            ("DINGTALK_CA_FILE", [], ["DINGTALK_CA_FILE": certificates.caFile]),
            ("SSL_CERT_FILE", [], ["SSL_CERT_FILE": certificates.caFile]),
        ]
        for (index, (way, arguments, environment)) in ways.enumerated() {
            try insertJobs(5)
            _ = try runToEmpty(server, arguments: arguments, environment: environment)
            XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded'"), 5 * (index + 1), way)
        }
        XCTAssertEqual(server.state.applied.count, 15)

        // Without the CA the handshake fails: nothing is sent, so no job uses an attempt or fails.
        try insertJobs(5)
        let worker = try startWorker(["run", "--concurrency", "2", "--request-timeout", "2s", "--poll-interval", "100ms"],
                                     environment: try workerEnvironment(server))
        try await waitUntil(timeout: .seconds(30), "a job to record the TLS failure") {
            try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'pending' AND last_error_code = 'tls.error'") >= 1
        }
        let result = try await worker.stop()
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state <> 'succeeded' AND (state <> 'pending' OR attempts <> 0)"), 0,
                       "jobs stay pending without using an attempt")
        XCTAssertEqual(server.state.applied.count, 15)
    }

    func testOverHTTPSTheWorkerSpeaksHTTP2AndOneConnectionCarriesEveryCall() async throws {
        // Some latency, so calls overlap and must share the connection at the same time.
        let server = try await startTLSFake(latency: .milliseconds(20))
        try insertJobs(200)
        _ = try runToEmpty(server, arguments: ["--ca-file", certificates.caFile, "--concurrency", "16"])
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded'"), 200)
        let stats = server.state.stats
        XCTAssertEqual(stats.connections, 1, "one connection for the token fetch and every call")
        XCTAssertEqual(stats.http2Connections, 1)
        XCTAssertEqual(stats.http2Streams, stats.calls + stats.tokenRequests, "every request was an HTTP/2 stream")
        XCTAssertGreaterThanOrEqual(stats.calls, 200)
        XCTAssertGreaterThan(stats.maxInFlight, 1, "calls were multiplexed, not sent one by one")
    }

    func testTheFakesOwnEndpointsAnswerOverHTTP1AndHTTP2() async throws {
        let server = try await startTLSFake()
        for allowHTTP2 in [false, true] {
            var options = AsyncHTTPClientTransport.Options()
            options.allowHTTP2 = allowHTTP2
            options.egress = EgressConfiguration(additionalCertificateFiles: [certificates.caFile])
            let transport = try AsyncHTTPClientTransport(options: options)
            let streamsBefore = server.state.stats.http2Streams
            let script = try await transport.send(TransportRequest(method: .PUT, url: server.baseURL + "/__fake/script", headers: [],
                                                                   body: Array(#"[{"code":"system.busy"}]"#.utf8)))
            let stats = try await transport.send(TransportRequest(method: .GET, url: server.baseURL + "/__fake/stats", headers: [], body: []))
            let applied = try await transport.send(TransportRequest(method: .GET, url: server.baseURL + "/__fake/applied", headers: [], body: []))
            try await transport.shutdown()
            XCTAssertEqual([script.status, stats.status, applied.status], [200, 200, 200], "HTTP/2: \(allowHTTP2)")
            let decoded = try JSONDecoder().decode(FakeDingTalkState.Stats.self, from: Data(stats.body))
            XCTAssertEqual(decoded.connections, server.state.stats.connections)
            XCTAssertEqual(String(decoding: applied.body, as: UTF8.self), "[]")
            XCTAssertEqual(server.state.stats.http2Streams - streamsBefore, allowHTTP2 ? 3 : 0, "HTTP/2: \(allowHTTP2)")
        }
        XCTAssertEqual(server.state.stats.connections, 2)
        XCTAssertEqual(server.state.stats.http2Connections, 1)
    }

    func testTheWorkerGoesThroughAForwardProxyUnlessNoProxyNamesTheHost() async throws {
        let server = try await startTLSFake()
        let proxy = try startProxy()
        let port = try XCTUnwrap(URL(string: server.baseURL)?.port)
        try insertJobs(20)
        _ = try runToEmpty(server, arguments: ["--ca-file", certificates.caFile], environment: ["HTTPS_PROXY": proxy.url])
        XCTAssertEqual(server.state.applied.count, 20)
        let tunnels = proxy.connectTargets
        XCTAssertEqual(tunnels, Array(repeating: "127.0.0.1:\(port)", count: server.state.stats.connections),
                       "every connection to the API (the token fetch's included) came through the proxy's CONNECT")
        XCTAssertFalse(tunnels.isEmpty)

        try insertJobs(20)
        _ = try runToEmpty(server, arguments: ["--ca-file", certificates.caFile],
                           environment: ["https_proxy": proxy.url, "NO_PROXY": "localhost, 127.0.0.1"])
        XCTAssertEqual(server.state.applied.count, 40)
        XCTAssertEqual(proxy.connectTargets.count, tunnels.count, "NO_PROXY: the second worker went direct")
    }

    func testTheWorkerAuthenticatesToTheProxyAndNeverShowsItsPassword() async throws {
        let server = try await startTLSFake()
        let proxy = try startProxy(basicAuth: ("egress", proxyPassword))
        try insertJobs(20)
        let proxyURL = "http://egress:\(proxyPassword)@127.0.0.1:\(proxy.port)"
        let result = try runToEmpty(server, arguments: ["--ca-file", certificates.caFile, "--log-level", "debug"],
                                    environment: ["DINGTALK_PROXY": proxyURL, "NO_PROXY": "*"])
        XCTAssertEqual(server.state.applied.count, 20)
        XCTAssertFalse(proxy.connectTargets.isEmpty, "DINGTALK_PROXY wins over NO_PROXY")
        XCTAssertTrue(result.stderr.contains("http://127.0.0.1:\(proxy.port)"), "the log names the proxy: \(result.stderr)")
        XCTAssertFalse((result.stdout + result.stderr).contains(proxyPassword), "the proxy password leaked")
    }

    func testADeadProxyPausesTheWorkerWithoutUsingAnAttempt() async throws {
        let deadPort = try freeLocalPort()
        try await checkProxyFailurePauses(proxyURL: "http://egress:\(proxyPassword)@127.0.0.1:\(deadPort)", proxyPort: deadPort,
                                          code: LocalErrorCode.proxyUnreachable, status: nil)
    }

    func testAProxyAnswering407PausesTheWorkerWithoutUsingAnAttempt() async throws {
        let proxy = try startProxy(basicAuth: ("egress", "the-right-one"))
        try await checkProxyFailurePauses(proxyURL: "http://127.0.0.1:\(proxy.port)", proxyPort: proxy.port,
                                          code: LocalErrorCode.proxyAuthenticationRequired, status: "407")
    }

    func testAWrongProxyPasswordPausesTheWorkerAndIsNeverShown() async throws {
        // tinyproxy answers wrong credentials with 401 rather than 407; both are the credentials' fault.
        let proxy = try startProxy(basicAuth: ("egress", "the-right-one"))
        try await checkProxyFailurePauses(proxyURL: "http://egress:\(proxyPassword)@127.0.0.1:\(proxy.port)", proxyPort: proxy.port,
                                          code: LocalErrorCode.proxyAuthenticationRequired, status: "401")
    }

    private func checkProxyFailurePauses(proxyURL: String, proxyPort: Int, code: String, status: String?) async throws {
        let server = try await startTLSFake()
        try insertJobs(10)
        let worker = try startWorker(["run", "--concurrency", "4", "--request-timeout", "2s", "--poll-interval", "100ms",
                                      "--ca-file", certificates.caFile],
                                     environment: try workerEnvironment(server).merging(["DINGTALK_PROXY": proxyURL]) { $1 })
        try await waitUntil(timeout: .seconds(30), "the pause to show in visibility_workers") {
            try count("SELECT count(*) FROM visibility_workers WHERE pause_reason LIKE '%' || $1 || '%'", [code]) == 1
        }
        let statusOutput = try await runWorker(["status"], environment: try databaseEnvironment())
        let result = try await worker.stop()
        XCTAssertEqual(result.status, 0, result.stderr)

        XCTAssertTrue(statusOutput.stdout.contains("PAUSED"), statusOutput.stdout)
        for text in [statusOutput.stdout, result.stderr] {
            XCTAssertTrue(text.contains(code), text)
            XCTAssertTrue(text.contains("http://127.0.0.1:\(proxyPort)"), "the proxy is named: \(text)")
            if let status { XCTAssertTrue(text.contains(status), "the proxy's status is named: \(text)") }
        }
        XCTAssertTrue(result.stderr.contains("pausing API calls"), result.stderr)
        XCTAssertFalse((statusOutput.stdout + statusOutput.stderr + result.stdout + result.stderr).contains(proxyPassword),
                       "the proxy password leaked")
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'pending' AND attempts = 0"), 10,
                       "no job failed or used an attempt")
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_attempts"), 0)
        XCTAssertEqual(server.state.stats.connections, 0, "nothing reached the API")
    }
}
