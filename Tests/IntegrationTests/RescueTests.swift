import Foundation
import GrantQueue
import Postgres
import QueueHotPath
import QueueReadModels
import XCTest

/// Leases that ran out: the job comes back, the lost attempt is recorded and counted.
final class RescueTests: DatabaseTestCase {
    func testAnExpiredLeaseIsRecordedAndTheJobBecomesClaimableAgain() throws {
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, max_attempts) VALUES ('{d1}', 'u1', 5), ('{d2}', 'u2', 1)")
        let queue = GrantQueue(connection: connection)
        let claimed = try queue.claim(workerID: "dead-worker", limit: 2, lease: .seconds(30))
        XCTAssertEqual(claimed.count, 2)
        XCTAssertEqual(try queue.rescueExpiredLeases(), [], "a live lease must not be taken back")

        try connection.query("UPDATE visibility_grant_jobs SET locked_until = now() - interval '1 second'")
        let rescued = try queue.rescueExpiredLeases()
        XCTAssertEqual(rescued.map(\.state).sorted(), ["failed", "pending"], "the job with max_attempts 1 has none left")

        let rows = try connection.query("SELECT state, attempts, last_error_code, locked_by FROM visibility_grant_jobs ORDER BY id")
        XCTAssertEqual(try rows[0].decode(0, as: String.self), "pending")
        XCTAssertEqual(try rows[0].decode(1, as: Int.self), 1, "the lost attempt counts")
        XCTAssertEqual(try rows[0].decode(2, as: String?.self), "lease.expired")
        XCTAssertEqual(try rows[0].decode(3, as: String?.self), nil)
        XCTAssertEqual(try rows[1].decode(0, as: String.self), "failed")
        let audit = try connection.query("SELECT worker_id, attempt, outcome FROM visibility_grant_attempts ORDER BY job_id")
            .map { "\(try $0.decode(0, as: String.self))/\(try $0.decode(1, as: Int.self))/\(try $0.decode(2, as: String.self))" }
        XCTAssertEqual(audit, ["dead-worker/1/lease_expired", "dead-worker/1/lease_expired"])

        // The dead worker comes back late: its write is fenced off.
        XCTAssertEqual(try queue.complete([GrantJobOutcome(jobID: claimed[0].id, attempt: 1, disposition: .succeeded,
                                                           startedAt: Date(), httpStatus: 200)], workerID: "dead-worker"), [])
        let next = try queue.claim(workerID: "live-worker", limit: 5, lease: .seconds(30))
        XCTAssertEqual(next.map(\.id), [claimed[0].id])
        XCTAssertEqual(next.first?.attempt, 2)
    }

    func testHeartbeatExtendsOnlyThisWorkersRunningLeases() throws {
        try insertJobs(3)
        let queue = GrantQueue(connection: connection)
        let mine = try queue.claim(workerID: "w1", limit: 2, lease: .seconds(2))
        _ = try queue.claim(workerID: "w2", limit: 1, lease: .seconds(2))
        XCTAssertEqual(try queue.extendLeases(jobIDs: mine.map(\.id) + [3], workerID: "w1", lease: .seconds(600)), 2)
        let extended = try connection.query("SELECT count(*) FROM visibility_grant_jobs WHERE locked_until > now() + interval '500 seconds'")
        XCTAssertEqual(try extended.first?.decode(0, as: Int.self), 2)
    }

    func testAPoisonRowIsFreedAndItsAttemptRowSaysWhy() throws {
        try insertJobs(2)
        let queue = GrantQueue(connection: connection)
        let live = try queue.claim(workerID: "live-worker", limit: 1, lease: .seconds(30))
        let longestLease = try queue.claim(workerID: "slow-worker", limit: 1, lease: GrantQueue.longestLease)
        // What a producer could write before sql/009: running, leased to no worker for ten years.
        // (The test connects as a superuser, whom the guard lets write any row.)
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, state, locked_by, locked_until)
            VALUES ('{ding9}', 'u9', 'running', 'ghost', now() + interval '10 years')
            """)
        XCTAssertEqual(try queue.stats().unexplainedRows.runningWithLeaseTooLong, 1)

        let rescued = try queue.rescueExpiredLeases()
        XCTAssertEqual(rescued.map { "\($0.id) \($0.state)" }, ["3 pending"], "only the poison row; live leases, even the longest, stay")
        let row = try XCTUnwrap(connection.query(
            "SELECT state, locked_by, locked_until, last_error_code, last_error_message FROM visibility_grant_jobs WHERE id = 3").first)
        XCTAssertEqual(try row.decode(0, as: String.self), "pending")
        XCTAssertNil(try row.decode(1, as: String?.self))
        XCTAssertNil(try row.decode(2, as: Date?.self))
        XCTAssertEqual(try row.decode(3, as: String?.self), "lease.implausible")
        let audit = try XCTUnwrap(connection.query("""
            SELECT worker_id, outcome, error_code, error_message, started_at <= now() FROM visibility_grant_attempts WHERE job_id = 3
            """).first)
        XCTAssertEqual(try audit.decode(0, as: String.self), "ghost")
        XCTAssertEqual(try audit.decode(1, as: String.self), "lease_expired")
        XCTAssertEqual(try audit.decode(2, as: String?.self), "lease.implausible")
        let why = try XCTUnwrap(audit.decode(3, as: String?.self))
        XCTAssertTrue(why.hasPrefix("lease held by ghost until ") && why.hasSuffix("more than 60 minutes ahead: longer than any worker holds one"), why)
        XCTAssertEqual(try audit.decode(4, as: Bool.self), true, "the attempt did not start in the future")
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_attempts"), 1)
        XCTAssertEqual(try queue.stats().unexplainedRows.total, 0)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'running' AND id = ANY($1)",
                                 [(live + longestLease).map(\.id)]), 2)
        print("producer-contract: poison row (running, leased to 'ghost' for 10 years): freed by the rescuer, attempt row says: \(why)")
    }
}
