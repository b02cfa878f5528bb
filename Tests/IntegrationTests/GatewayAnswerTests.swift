import DingTalk
import FakeDingTalk
import Foundation
import XCTest

/// Issue 27's table, row by row, through a real worker process: the fake answers the
/// first grant calls (or token requests) as a gateway, proxy or load balancer in
/// front of DingTalk would, then `{"result":true}`. docs/DESIGN.md, Answer table.
final class GatewayAnswerTests: DatabaseTestCase {
    /// Short backoffs so the test waits seconds, not minutes; the ban pause stays at
    /// its default (5 minutes), so a wrongly read gateway page shows as jobs left pending.
    private let arguments = ["run", "--until-empty", "--concurrency", "4", "--poll-interval", "100ms",
                             "--backoff-base", "200ms", "--backoff-max", "2s"]

    private func drain(_ server: FakeDingTalkServer, jobs: Int, script: String) async throws -> ProcessResult {
        XCTAssertTrue(server.state.script(json: script), "the fake refused the script \(script)")
        try insertJobs(jobs)
        let result = try await runWorker(arguments, environment: try workerEnvironment(server), timeout: .seconds(90))
        XCTAssertEqual(result.status, 0, result.stderr)
        return result
    }

    private func assertNoHostPause(_ result: ProcessResult, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(result.stderr.contains("pausing API calls for every app"), "a gateway's answer paused the host:\n\(result.stderr)",
                       file: file, line: line)
    }

    func testANginx502PageRetriesTheJobAndNeitherPausesTheHostNorFailsAJob() async throws {
        let server = try await startFake()
        let result = try await drain(server, jobs: 20, script: #"[{"fault":"html","status":502}]"#)
        assertNoHostPause(result)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded'"), 20)
        XCTAssertEqual(try count("""
            SELECT count(*) FROM visibility_grant_attempts
            WHERE outcome = 'retry' AND http_status = 502 AND error_code = 'http.502' AND error_message LIKE '<html>%'
            """), 1, "the page's first bytes are kept with the retry")
    }

    func testAPlainText429ThrottlesWithoutAnIPBanAndUsesNoAttempt() async throws {
        let server = try await startFake()
        let result = try await drain(server, jobs: 20, script: #"[{"fault":"text","status":429}]"#)
        assertNoHostPause(result)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded' AND attempts = 1"), 20,
                       "a throttle uses no attempt")
        XCTAssertEqual(try count("""
            SELECT count(*) FROM visibility_grant_attempts WHERE outcome = 'released' AND http_status = 429 AND error_code = 'http.429'
            """), 1, "the throttle's audit row: a release with its status and code")
    }

    func testAJSON429ThrottlingFailsNoJobAndUsesNoAttempt() async throws {
        let server = try await startFake()
        let result = try await drain(server, jobs: 20, script: """
            [{"code":"Throttling","status":429,"message":"Request was denied due to flow control.","times":3}]
            """)
        assertNoHostPause(result)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'failed'"), 0)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded' AND attempts = 1"), 20)
        XCTAssertEqual(try count("""
            SELECT count(*) FROM visibility_grant_attempts WHERE outcome = 'released' AND http_status = 429 AND error_code = 'Throttling'
            """), 3)
    }

    func testATokenEndpointAnswering500UsesNoAttempt() async throws {
        let server = try await startFake()
        let result = try await drain(server, jobs: 20, script: #"[{"endpoint":"token","fault":"html","status":500,"times":3}]"#)
        XCTAssertGreaterThanOrEqual(server.state.stats.tokenRequests, 4, "three refused, then one token")
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded' AND attempts = 1"), 20,
                       "no grant call was made for the refused tokens:\n\(result.stderr)")
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_attempts WHERE outcome <> 'succeeded'"), 0)
    }

    func testAJobThrottledMaxAttemptsTimesDoesNotFail() async throws {
        let server = try await startFake()
        try connection.query("ALTER TABLE visibility_grant_jobs ALTER COLUMN max_attempts SET DEFAULT 2")
        _ = try await drain(server, jobs: 1, script: #"[{"code":"Forbidden.AccessDenied.QpsLimitForAppkeyAndApi","times":3}]"#)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded' AND attempts = 1"), 1,
                       "three throttles on a job with max_attempts 2 fail nothing")
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_attempts WHERE outcome = 'released'"), 3)
    }

    /// DingTalk's own ban pauses the host; the pause ends with one probe call, not a batch.
    func testABanPausesTheHostProbesWithOneCallWhileRefusedAndResumesAfterOneGoodProbe() async throws {
        let server = try await startFake()
        // Enough ban answers for the first batch (up to 4 calls at once) and two refused probes.
        XCTAssertTrue(server.state.script(json: #"[{"fault":"ban","times":6}]"#))
        try insertJobs(10)
        let worker = try startWorker(["run", "--until-empty", "--concurrency", "4", "--poll-interval", "100ms",
                                      "--ban-pause", "1s", "--backoff-max", "2s"], environment: try workerEnvironment(server))
        // While the probes are refused, each pause lets exactly one call through: when the
        // last ban is answered, no call has been answered otherwise (the next pause has begun).
        try await waitUntil(timeout: .seconds(30), "six ban answers") { server.state.stats.codes["ban"] == 6 }
        let stats = server.state.stats
        XCTAssertEqual(stats.calls, 6, "a call besides the probes while banned: \(stats)")
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded'"), 0)
        let result = try await worker.wait(timeout: .seconds(60))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr.components(separatedBy: "pausing API calls for every app on this host").count - 1, 1,
                       "one pause, logged once, held through refused probes:\n\(result.stderr)")
        XCTAssertTrue(result.stderr.contains("resuming calls"), result.stderr)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded' AND attempts = 1"), 10,
                       "a ban uses no attempt")
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_attempts WHERE outcome = 'released' AND error_code = 'punish.deny'"), 6)
    }
}
