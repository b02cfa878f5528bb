import Foundation
import GrantQueue
import Postgres
import QueueHotPath
import XCTest

/// Jobs queued for later wait outside the claim index (`scheduled`, sql/019)
/// until a worker's stager moves them in, shortly before their run_at.
final class StagingTests: DatabaseTestCase {
    private func scheduled(_ user: String) throws -> Bool {
        try XCTUnwrap(connection.query("SELECT scheduled FROM visibility_grant_jobs WHERE opt_user_id = $1", [user])
            .first?.decode(0, as: Bool.self))
    }

    func testTheFlagFollowsRunAtWhoeverWritesIt() throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, run_at) VALUES
              ('{a}', 'later', now() + interval '1 hour'), ('{b}', 'now', now()), ('{c}', 'past', now() - interval '1 day')
            """)
        // A producer cannot put a due job out of the claim's way.
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, scheduled) VALUES ('{d}', 'claims-scheduled', true)")
        XCTAssertTrue(try scheduled("later"))
        XCTAssertFalse(try scheduled("now"))
        XCTAssertFalse(try scheduled("past"))
        XCTAssertFalse(try scheduled("claims-scheduled"))

        // A retry's backoff, and a job brought forward.
        try connection.query("UPDATE visibility_grant_jobs SET run_at = now() + interval '30 seconds' WHERE opt_user_id = 'now'")
        try connection.query("UPDATE visibility_grant_jobs SET run_at = now() WHERE opt_user_id = 'later'")
        XCTAssertTrue(try scheduled("now"))
        XCTAssertFalse(try scheduled("later"))
    }

    func testAScheduledJobIsClaimableOnceStagedAndTheStagerTakesOnlyWhatFallsDue() throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, priority, run_at) VALUES
              ('{a}', 'soon', 0, now() + interval '300 milliseconds'),
              ('{b}', 'next-month', 9, now() + interval '30 days')
            """)
        let queue = GrantQueue(connection: connection)
        try waitUntil(timeout: .seconds(30), "the job to fall due") {
            try count("SELECT count(*) FROM visibility_grant_jobs WHERE opt_user_id = 'soon' AND run_at <= now()") == 1
        }
        XCTAssertEqual(try queue.claim(workerID: "w", limit: 10, lease: .seconds(30)).count, 0,
                       "a scheduled job is not in the claim index until a stager moves it")
        XCTAssertEqual(try queue.stageDueJobs(), 1, "only the job due within the lookahead")
        XCTAssertEqual(try queue.claim(workerID: "w", limit: 10, lease: .seconds(30)).map(\.optUserId), ["soon"])
        XCTAssertEqual(try queue.stageDueJobs(), 0)
        XCTAssertTrue(try scheduled("next-month"))
    }

    func testAWorkerRunsAJobQueuedForLaterOnceItFallsDueAndNotBefore() async throws {
        let server = try await startFake()
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, run_at) VALUES ('{dingA}', 'in-3s', now() + interval '3 seconds')
            """)
        XCTAssertTrue(try scheduled("in-3s"))
        let worker = try startWorker(["run", "--poll-interval", "200ms"], environment: try workerEnvironment(server))
        try await waitUntil(timeout: .seconds(60), "the job to succeed") {
            try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded'") == 1
        }
        let result = try await worker.stop()
        XCTAssertTrue(result.stderr.contains("succeeded=1"), result.stderr)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try count("""
            SELECT count(*) FROM visibility_grant_jobs AS j JOIN visibility_grant_attempts AS a ON a.job_id = j.id
            WHERE a.started_at >= j.run_at
            """), 1, "the attempt started at or after run_at")
    }
}
