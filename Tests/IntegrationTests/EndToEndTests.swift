import DingTalk
import FakeDingTalk
import Foundation
import GrantQueue
import Postgres
import XCTest

/// The built binary as separate worker processes, the fake API over real HTTP,
/// and a real PostgreSQL.
final class EndToEndTests: DatabaseTestCase {
    func testTwoWorkersApplyEveryValidGrantOnceDespiteFaultsAndThrottling() async throws {
        let server = try await startFake { options in
            options.qps = 300
            options.faults = try .init(parsing: "system.busy=0.1")
            options.seed = 7
        }
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, fields)
            SELECT ARRAY['ding' || g, 'dingx' || g], 'user-' || g, CASE WHEN g % 2 = 0 THEN '{mobile,status}'::text[] ELSE '{}' END
            FROM generate_series(1, 2000) AS g
            """)
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id)
            SELECT ARRAY['corp-bad-' || g], 'invalid-' || g FROM generate_series(1, 20) AS g
            """)
        let arguments = ["run", "--until-empty", "--concurrency", "16", "--batch-size", "32",
                         "--backoff-base", "50ms", "--backoff-max", "1s", "--poll-interval", "200ms"]
        let environment = try workerEnvironment(server)
        let workers = try (0..<2).map { _ in try startWorker(arguments, environment: environment) }
        var results: [ProcessResult] = []
        for worker in workers { results.append(try await worker.wait(timeout: .seconds(240))) }
        for result in results {
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertTrue(result.stderr.contains("worker stopped"), result.stderr)
            XCTAssertFalse(result.stderr.contains("claimed=0 "), "both processes must share the work: \(result.stderr)")
        }

        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE opt_user_id LIKE 'user-%' AND state = 'succeeded'"), 2000)
        let applied = server.state.applied.filter { $0.optUserId.hasPrefix("user-") }
        XCTAssertEqual(applied.count, 2000, "every valid grant exactly once at the API")
        XCTAssertEqual(Set(applied.map(\.optUserId)).count, 2000)
        let sample = try XCTUnwrap(applied.first { $0.optUserId == "user-2" })
        XCTAssertEqual(sample, VisibilityGrant(toCorpIds: ["ding2", "dingx2"], optUserId: "user-2", fields: ["mobile", "status"]))

        XCTAssertEqual(try count("""
            SELECT count(*) FROM visibility_grant_jobs
            WHERE opt_user_id LIKE 'invalid-%' AND state = 'failed' AND attempts = 1
              AND last_error_code = 'invalid.param' AND last_http_status = 400 AND last_request_id IS NOT NULL
            """), 20)

        let stats = server.state.stats
        XCTAssertGreaterThan(stats.codes["system.busy", default: 0], 0, "faults were not injected")
        XCTAssertGreaterThan(stats.codes["Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", default: 0], 0, "the API never throttled")
        let retried = try count("SELECT count(*) FROM visibility_grant_jobs WHERE attempts > 1")
        XCTAssertGreaterThan(retried, 0)
        // Every attempt of every job is in the audit trail; a throttle used none, its row is a release.
        XCTAssertEqual(try count("""
            SELECT count(*) FROM visibility_grant_jobs j
            WHERE j.attempts <> (SELECT count(*) FROM visibility_grant_attempts a WHERE a.job_id = j.id AND a.outcome <> 'released')
            """), 0)
        XCTAssertEqual(try count("""
            SELECT count(*) FROM visibility_grant_attempts
            WHERE outcome = 'released' AND http_status = 403 AND error_code = 'Forbidden.AccessDenied.QpsLimitForAppkeyAndApi'
            """), stats.codes["Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", default: 0], "each throttle's audit row")
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_attempts WHERE outcome = 'retry' AND error_code = 'system.busy'"),
                       stats.codes["system.busy", default: 0])
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state IN ('pending', 'running')"), 0)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_workers"), 0, "workers deregister on exit")
    }

    func testOneWorkerNeverHasMoreCallsInFlightThanItsConcurrency() async throws {
        let server = try await startFake { $0.latency = .milliseconds(100) }
        try insertJobs(60)
        let result = try await runWorker(["run", "--until-empty", "--concurrency", "3", "--poll-interval", "200ms"],
                                   environment: try workerEnvironment(server), timeout: .seconds(60))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(server.state.applied.count, 60)
        XCTAssertEqual(server.state.stats.maxInFlight, 3, "the limit must hold, and be used")
    }

    func testSIGTERMUnderLoadDrainsAndExitsZero() async throws {
        let server = try await startFake { $0.latency = .milliseconds(300) }
        try insertJobs(500)
        let worker = try startWorker(["run", "--concurrency", "8", "--drain-timeout", "5s"], environment: try workerEnvironment(server))
        try await waitUntil(timeout: .seconds(60), "some jobs to succeed") {
            try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded'") >= 16
        }
        XCTAssertGreaterThan(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'running'"), 0, "not under load")
        let signalled = ContinuousClock.now
        worker.process.terminate()
        let result = try await worker.wait(timeout: .seconds(15))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertLessThan(ContinuousClock.now - signalled, .seconds(6), "drain took longer than --drain-timeout")
        XCTAssertTrue(result.stderr.contains("draining"), result.stderr)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'running'"), 0)
        // The calls in flight at the signal finished and were recorded: nothing applied goes unrecorded.
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded'"), server.state.applied.count)
    }

    func testDrainTimeoutHandsUnfinishedJobsBackWithoutUsingAnAttempt() async throws {
        let server = try await startFake { $0.latency = .seconds(20) }
        try insertJobs(10)
        let worker = try startWorker(["run", "--concurrency", "4", "--drain-timeout", "500ms", "--request-timeout", "60s"],
                                     environment: try workerEnvironment(server))
        try await waitUntil(timeout: .seconds(30), "calls in flight") { server.state.stats.inFlight >= 4 }
        worker.process.terminate()
        let result = try await worker.wait(timeout: .seconds(10))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("handing unfinished jobs back"), result.stderr)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'pending' AND attempts = 0 AND locked_by IS NULL"), 10)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_attempts"), 0)
    }
}
