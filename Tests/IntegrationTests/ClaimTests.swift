import Dispatch
import Foundation
import GrantQueue
import Postgres
import QueueHotPath
import Synchronization
import XCTest

final class ClaimTests: DatabaseTestCase {
    func testEightConcurrentClaimersTakeEveryJobExactlyOnce() throws {
        let total = 10_000
        try insertJobs(total)
        let claimed = Mutex<[Int64]>([])
        let errors = Mutex<[String]>([])
        let configuration = database.configuration
        DispatchQueue.concurrentPerform(iterations: 8) { claimer in
            do {
                // Each claimer is its own thread with its own connection.
                let queue = GrantQueue(connection: try PostgresConnection(configuration: configuration, logger: TestEnvironment.logger))
                while true {
                    let batch = try queue.claim(workerID: "claimer-\(claimer)", limit: 37, lease: .seconds(60))
                    if batch.isEmpty { break }
                    claimed.withLock { $0.append(contentsOf: batch.map(\.id)) }
                }
            } catch {
                errors.withLock { $0.append("\(claimer): \(error)") }
            }
        }
        XCTAssertEqual(errors.withLock { $0 }, [])
        let ids = claimed.withLock { $0 }
        XCTAssertEqual(ids.count, total, "some job was claimed twice or missed")
        XCTAssertEqual(Set(ids).count, total, "some job was claimed twice")
        let stillPending = try connection.query("SELECT count(*) FROM visibility_grant_jobs WHERE state <> 'running' OR attempts <> 1")
        XCTAssertEqual(try stillPending.first?.decode(0, as: Int.self), 0)
    }

    func testClaimOrderIsPriorityThenRunAtThenIdAndSkipsFutureJobs() throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, priority, run_at) VALUES
              ('{a}', 'low-old',  0, now() - interval '1 hour'),
              ('{b}', 'high-new', 5, now() - interval '1 minute'),
              ('{c}', 'high-old', 5, now() - interval '2 minutes'),
              ('{d}', 'future',   9, now() + interval '1 hour'),
              ('{e}', 'low-new',  0, now() - interval '1 minute')
            """)
        let queue = GrantQueue(connection: connection)
        var order: [String] = []
        while let job = try queue.claim(workerID: "w", limit: 1, lease: .seconds(30)).first {
            order.append(job.optUserId)
        }
        XCTAssertEqual(order, ["high-old", "high-new", "low-old", "low-new"])
    }

    func testABatchComesBackHighestPriorityFirst() throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, priority) VALUES
              ('{a}', 'p0-first', 0), ('{b}', 'p5', 5), ('{c}', 'p1', 1), ('{d}', 'p0-second', 0), ('{e}', 'p9', 9)
            """)
        let batch = try GrantQueue(connection: connection).claim(workerID: "w", limit: 10, lease: .seconds(30))
        XCTAssertEqual(batch.map(\.optUserId), ["p9", "p5", "p1", "p0-first", "p0-second"], "the batch is sent in this order")
    }

    func testClaimSetsTheLeaseAndCountsTheAttempt() throws {
        try insertJobs(3)
        let queue = GrantQueue(connection: connection)
        let before = Date()
        let jobs = try queue.claim(workerID: "worker-a", limit: 10, lease: .seconds(30))
        XCTAssertEqual(jobs.map(\.id), [1, 2, 3])
        XCTAssertEqual(jobs.map(\.attempt), [1, 1, 1])
        XCTAssertEqual(jobs[0].toCorpIds, ["ding1"])
        XCTAssertEqual(jobs[0].optUserId, "user1")
        XCTAssertEqual(jobs[0].fields, [])
        XCTAssertEqual(jobs[0].maxAttempts, 10)
        XCTAssertEqual(jobs[0].lockedUntil.timeIntervalSince(before), 30, accuracy: 5)
        let lockedBy = try connection.query("SELECT DISTINCT locked_by FROM visibility_grant_jobs").map { try $0.decode(0, as: String.self) }
        XCTAssertEqual(lockedBy, ["worker-a"])
        XCTAssertEqual(try queue.claim(workerID: "worker-b", limit: 10, lease: .seconds(30)), [])
    }
}
