import FakeDingTalk
import Foundation
import GrantQueue
import Postgres
import QueueOperations
import XCTest

/// Producers learn outcomes: the done notification and `visibility-worker wait`.
final class WaitTests: DatabaseTestCase {
    private func insertJob(optUserID: String, key: String, runAt: String = "now()") throws -> Int64 {
        try XCTUnwrap(connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, idempotency_key, run_at)
            VALUES ('{ding1}', $1, $2, \(runAt)) RETURNING id
            """, [optUserID, key]).first).decode(0, as: Int64.self)
    }

    func testWaitExitsWithEachOutcome() async throws {
        let server = try await startFake()
        let succeeded = try insertJob(optUserID: "u1", key: "ok")
        _ = try insertJob(optUserID: "nonexistent1", key: "gone")
        let cancelled = try insertJob(optUserID: "u3", key: "never", runAt: "now() + interval '1 hour'")
        let pending = try insertJob(optUserID: "u4", key: "later", runAt: "now() + interval '1 hour'")
        let environment = try workerEnvironment(server)
        // Waiting starts before the worker does: the notification ends the wait.
        let waitForSuccess = try startWorker(["wait", "--id", String(succeeded)], environment: environment)
        let waitForFailure = try startWorker(["wait", "--idempotency-key", "gone"], environment: environment)
        let waitForCancel = try startWorker(["wait", "--id", String(cancelled), "--timeout", "20s"], environment: environment)
        let worker = try startWorker(["run", "--drain-timeout", "2s"], environment: environment)
        try await waitUntil(timeout: .seconds(20), "both due jobs to finish") {
            try count("SELECT count(*) FROM visibility_grant_jobs WHERE finished_at IS NOT NULL") == 2
        }
        let cancel = try await runWorker(["cancel", "--id", String(cancelled)], environment: environment)
        XCTAssertEqual(cancel.status, 0, cancel.stderr)

        let success = try await waitForSuccess.wait(timeout: .seconds(30))
        XCTAssertEqual(success.status, 0, success.stderr)
        let row = try JSONDecoder.iso8601.decode(GrantQueue.JobResult.self, from: Data(success.stdout.utf8))
        XCTAssertEqual(row.id, succeeded)
        XCTAssertEqual(row.state, "succeeded")
        let failure = try await waitForFailure.wait(timeout: .seconds(30))
        XCTAssertEqual(failure.status, 1, failure.stderr)
        XCTAssertTrue(failure.stdout.contains("employee.not.exist"), failure.stdout)
        let cancelledResult = try await waitForCancel.wait(timeout: .seconds(30))
        XCTAssertEqual(cancelledResult.status, 2, cancelledResult.stderr)

        // Exit status 124 says the wait's own timeout ended it (runWorker bounds the rest).
        let timedOut = try await runWorker(["wait", "--id", String(pending), "--timeout", "1s"], environment: environment)
        XCTAssertEqual(timedOut.status, 124, timedOut.stderr)
        XCTAssertTrue(timedOut.stdout.contains(#""state":"pending""#), timedOut.stdout)

        let polled = try await runWorker(["wait", "--id", String(succeeded), "--pool-mode", "transaction"], environment: environment)
        XCTAssertEqual(polled.status, 0, polled.stderr)
        let missing = try await runWorker(["wait", "--id", "999999"], environment: environment)
        XCTAssertEqual(missing.status, 3)
        XCTAssertTrue(missing.stderr.contains("no job with this id"), missing.stderr)
        let stopped = try await worker.stop()
        XCTAssertEqual(stopped.status, 0, stopped.stderr)
    }

    /// Every finished id is named exactly once, in payloads under PostgreSQL's 8,000-byte limit.
    func testTheDoneNotificationNamesEveryFinishedIdOnce() async throws {
        let server = try await startFake()
        let listener = try database.connect()
        try listener.listen(GrantQueue.doneChannel)
        try insertJobs(10_000)
        let result = try await runWorker(["run", "--until-empty", "--concurrency", "64", "--batch-size", "500"],
                                   environment: try workerEnvironment(server), timeout: .seconds(120))
        XCTAssertEqual(result.status, 0, result.stderr)
        let payloads = try donePayloads(on: listener)
        let ids = payloads.flatMap { $0.split(separator: ",").compactMap { Int64($0) } }
        XCTAssertEqual(ids.count, 10_000, "each finished job once")
        XCTAssertEqual(Set(ids).count, 10_000)
        let all = try connection.query("SELECT id FROM visibility_grant_jobs").map { try $0.decode(0, as: Int64.self) }
        XCTAssertEqual(Set(ids), Set(all))
        XCTAssertLessThan(payloads.map(\.utf8.count).max() ?? 0, 8000)
        XCTAssertEqual(server.state.stats.applied, 10_000)
    }
}
