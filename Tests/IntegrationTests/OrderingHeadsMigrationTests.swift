import Foundation
@testable import GrantQueue
import Postgres
@testable import QueueHotPath
import XCTest

/// sql/014 applied to a database whose keyed jobs are in flight under the old claim.
final class OrderingHeadsMigrationTests: DatabaseTestCase {
    override var migrateDatabase: Bool { false }

    func testTheMigrationKeepsTheOrderOfKeyedJobsInFlight() throws {
        let all = try SchemaMigrator(directory: TestEnvironment.migrationsDirectory, logger: TestEnvironment.logger)
        try SchemaMigrator(migrations: all.migrations.filter { $0.version < 14 }, logger: TestEnvironment.logger).migrate(connection)
        // Key a: 5 jobs, the first running. Key b: 4 jobs, the first succeeded, the second failed.
        // Key c: 200 jobs, none started. Plus free jobs.
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key)
            SELECT ARRAY['d'], key || '-' || s, key
            FROM generate_series(1, 200) AS s, unnest(ARRAY['a', 'b', 'c']) AS key
            WHERE key = 'c' OR s <= CASE key WHEN 'a' THEN 5 ELSE 4 END
            ORDER BY s, key
            """)
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id) SELECT ARRAY['d'], 'free-' || g FROM generate_series(1, 5) g")
        try connection.query("""
            UPDATE visibility_grant_jobs SET state = 'running', locked_by = 'old-worker', locked_until = now() + interval '1 hour', attempts = 1
            WHERE opt_user_id = 'a-1'
            """)
        try connection.query("UPDATE visibility_grant_jobs SET state = 'succeeded', finished_at = now(), attempts = 1 WHERE opt_user_id = 'b-1'")
        try connection.query("UPDATE visibility_grant_jobs SET state = 'failed', finished_at = now(), attempts = 1 WHERE opt_user_id = 'b-2'")

        XCTAssertEqual(try all.migrate(connection).first, "014_ordering_heads")
        let heads = try connection.query("""
            SELECT opt_user_id FROM visibility_grant_jobs
            WHERE ordering_key IS NOT NULL AND state IN ('pending', 'running') AND NOT ordering_blocked ORDER BY 1
            """).map { try $0.decode(0, as: String.self) }
        XCTAssertEqual(heads, ["a-1", "b-3", "c-1"])

        // Drained by claims of many at a time, each key's jobs come out in id order.
        let queue = GrantQueue(connection: connection)
        try connection.query("""
            UPDATE visibility_grant_jobs SET state = 'succeeded', locked_by = NULL, locked_until = NULL, finished_at = now()
            WHERE opt_user_id = 'a-1'
            """)
        var order: [String: [Int]] = [:]
        for _ in 0..<300 {
            // Jobs queued before 017 are admitted like new ones, in id order.
            while case .admitted(let count) = try queue.admitArrivals(), count > 0 {}
            let batch = try queue.claim(workerID: "w", limit: 50, lease: .seconds(30))
            if batch.isEmpty { break }
            for job in batch {
                let parts = job.optUserId.split(separator: "-")
                order[String(parts[0]), default: []].append(Int(parts[1])!)
            }
            try queue.complete(batch.map { GrantJobOutcome(jobID: $0.id, attempt: $0.attempt, disposition: .succeeded, startedAt: Date(),
                                                           httpStatus: 200) }, workerID: "w")
        }
        XCTAssertEqual(order["a"], [2, 3, 4, 5])
        XCTAssertEqual(order["b"], [3, 4])
        XCTAssertEqual(order["c"], Array(1...200))
        XCTAssertEqual(order["free"]?.count, 5)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state IN ('pending', 'running')"), 0)
    }
}
