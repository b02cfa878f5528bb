import DingTalk
import FakeDingTalk
import Foundation
import Postgres
import XCTest

/// `retry`, `cancel` and `prune` do what they say and nothing more.
final class OperationsTests: DatabaseTestCase {
    /// Every column of every job, for checking that rows outside a selection are untouched.
    private func snapshot(except ids: Set<Int64> = []) throws -> [Int64: String] {
        var rows: [Int64: String] = [:]
        for row in try connection.query("SELECT id, row_to_json(j)::text FROM visibility_grant_jobs AS j ORDER BY id") {
            let id = try row.decode(0, as: Int64.self)
            if !ids.contains(id) { rows[id] = try row.decode(1, as: String.self) }
        }
        return rows
    }

    func testRetryTakesBackOnlyTheSelectedFailedJobs() throws {
        try insertJobs(8)
        // 1-3 failed with invalid.param (1 two days ago), 4 failed with employee.not.exist,
        // 5 pending with invalid.param as its last error, 6 succeeded, 7-8 pending.
        try connection.query("""
            UPDATE visibility_grant_jobs SET
              state = CASE WHEN id <= 4 THEN 'failed' WHEN id = 6 THEN 'succeeded' ELSE 'pending' END,
              attempts = CASE WHEN id <= 4 THEN 3 ELSE 0 END, max_attempts = 3,
              last_error_code = CASE WHEN id <= 3 OR id = 5 THEN 'invalid.param' WHEN id = 4 THEN 'employee.not.exist' END,
              finished_at = CASE WHEN id = 1 THEN now() - interval '2 days' WHEN id <= 4 OR id = 6 THEN now() - interval '1 hour' END,
              run_at = now() - interval '3 hours'
            """)

        let refused = try runWorker(["retry"], environment: try databaseEnvironment())
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("say which failed jobs"), refused.stderr)

        let before = try snapshot(except: [2, 3])
        let since = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-86_400))
        let result = try runWorker(["retry", "--code", "invalid.param", "--failed-since", since, "--attempts", "5"],
                                   environment: try databaseEnvironment())
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "retried 2 failed jobs, each with 5 more attempts")
        XCTAssertEqual(try snapshot(except: [2, 3]), before, "jobs outside the selection must not change")
        for row in try connection.query("SELECT state, attempts, max_attempts, finished_at IS NULL, run_at <= now() FROM visibility_grant_jobs WHERE id IN (2, 3)") {
            XCTAssertEqual(try row.decode(0, as: String.self), "pending")
            XCTAssertEqual(try row.decode(1, as: Int.self), 3, "the attempt counter keeps counting")
            XCTAssertEqual(try row.decode(2, as: Int.self), 8, "five fresh attempts")
            XCTAssertEqual(try row.decode(3, as: Bool.self), true)
            XCTAssertEqual(try row.decode(4, as: Bool.self), true, "due now")
        }

        // By id: a pending job is not failed, so nothing happens to it.
        let byID = try runWorker(["retry", "--id", "7", "--id", "4"], environment: try databaseEnvironment())
        XCTAssertEqual(byID.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "retried 1 failed job, each with 10 more attempts")
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'failed'"), 1, "job 1 is left")
    }

    func testCancelCancelsOnlyPendingJobs() throws {
        try insertJobs(5)
        try claimByHandAsACurrentBuild()
        try connection.query("""
            UPDATE visibility_grant_jobs SET idempotency_key = 'key-' || id,
              state = CASE WHEN id = 3 THEN 'running' ELSE state END,
              locked_by = CASE WHEN id = 3 THEN 'someone' END,
              locked_until = CASE WHEN id = 3 THEN now() + interval '1 minute' END
            """)
        let before = try snapshot(except: [1, 2])
        // Job 1 named three times (twice by id, once by key): counted once.
        let result = try runWorker(["cancel", "--id", "1", "--id", "1", "--id", "3", "--idempotency-key", "key-1",
                                    "--idempotency-key", "key-2", "--idempotency-key", "no-such-key"],
                                   environment: try databaseEnvironment())
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                       "cancelled 2 pending jobs; 1 not pending (running or finished), left alone; 1 id or key matched no job")
        XCTAssertEqual(try snapshot(except: [1, 2]), before, "the running job and the others must not change")
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'cancelled' AND finished_at IS NOT NULL AND id IN (1, 2)"), 2)
    }

    func testPruneDeletesOnlyOldFinishedJobsAndTheirAttempts() throws {
        try insertJobs(30)
        // 1-20 finished two days ago (succeeded, failed, cancelled), 21-25 succeeded an hour ago,
        // 26-30 pending but created long ago.
        try connection.query("""
            UPDATE visibility_grant_jobs SET
              state = CASE WHEN id <= 10 THEN 'succeeded' WHEN id <= 15 THEN 'failed' WHEN id <= 20 THEN 'cancelled'
                           WHEN id <= 25 THEN 'succeeded' ELSE 'pending' END,
              finished_at = CASE WHEN id <= 20 THEN now() - interval '2 days' WHEN id <= 25 THEN now() - interval '1 hour' END,
              created_at = now() - interval '3 days'
            """)
        try connection.query("""
            INSERT INTO visibility_grant_attempts (job_id, attempt, worker_id, started_at, outcome)
            SELECT id, n, 'w', now(), 'retry' FROM visibility_grant_jobs, generate_series(1, 2) AS n
            """)
        let kept = try snapshot(except: Set(1...20))
        let result = try runWorker(["prune", "--older-than", "1d", "--batch-size", "7"], environment: try databaseEnvironment())
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                       "deleted 20 finished jobs and 40 attempt rows older than 1d")
        XCTAssertEqual(try snapshot(), kept)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_attempts"), 20, "attempts of the kept jobs stay")
        XCTAssertEqual(result.stderr, "", "no progress line when standard error is not a terminal")
    }

    func testPruneUnderARunningWorkerDoesNotStallIt() async throws {
        let server = try await startFake()
        // 200,000 old finished jobs to prune, and 3,000 new ones for the worker at 300 calls/s.
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, state, finished_at)
            SELECT ARRAY['dingold' || g], 'old' || g, 'succeeded', now() - interval '40 days'
            FROM generate_series(1, 200000) AS g
            """)
        try insertJobs(3000)
        let worker = try startWorker(["run", "--qps", "300", "--concurrency", "8"], environment: try workerEnvironment(server))
        let succeededNew = "SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded' AND finished_at > now() - interval '1 day'"
        try await waitUntil(timeout: .seconds(30), "the worker to get going") { try count(succeededNew) >= 200 }

        let atStart = try count(succeededNew)
        let prune = try await runWorker(["prune", "--older-than", "30d"], environment: try databaseEnvironment(), timeout: .seconds(120))
        let atEnd = try count(succeededNew)
        XCTAssertEqual(prune.status, 0, prune.stderr)
        XCTAssertTrue(prune.stdout.hasPrefix("deleted 200000 finished jobs"), prune.stdout)
        XCTAssertGreaterThan(atEnd, atStart, "the worker kept completing jobs while prune ran")

        try await waitUntil(timeout: .seconds(60), "every new job to succeed") { try count(succeededNew) == 3000 }
        XCTAssertEqual(try count(), 3000, "only the old jobs were deleted")
        let stopped = try await worker.stop()
        XCTAssertEqual(stopped.status, 0, stopped.stderr)
    }

    func testRetentionPrunesFromARunningWorker() async throws {
        let server = try await startFake()
        try insertJobs(10)
        try connection.query("UPDATE visibility_grant_jobs SET state = 'succeeded', finished_at = now() - interval '2 days' WHERE id <= 6")
        var environment = try workerEnvironment(server)
        environment["VISIBILITY_WORKER_PRUNE_INTERVAL"] = "200ms"
        let worker = try startWorker(["run", "--retention", "1d"], environment: environment)
        try await waitUntil(timeout: .seconds(20), "the old jobs to be pruned and the new ones done") {
            try count() == 4 && count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded'") == 4
        }
        let result = try await worker.stop()
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("pruned finished jobs"), result.stderr)
    }
}
