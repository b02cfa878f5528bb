import Foundation
import GrantQueue
import Postgres
import QueueHotPath
import QueueReadModels
import XCTest

/// The roles in sql/005_roles.sql give producers and workers only what they need.
final class RoleTests: RoleTestCase {
    private func assertRefused(_ connection: PostgresConnection, _ sql: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try connection.query(sql), sql, file: file, line: line) { error in
            XCTAssertEqual((error as? PostgresError)?.sqlState, "42501", "\(sql): \(error)", file: file, line: line)
        }
    }

    func testAProducerMayInsertAndReadJobsAndNothingElse() throws {
        let producer = try login(as: "visibility_producer")
        try producer.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id) VALUES ('{ding1}', 'u')")
        try producer.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, idempotency_key) VALUES ('{ding1}', 'u', 'k')
            ON CONFLICT (idempotency_key) DO NOTHING
            """)
        XCTAssertEqual(try producer.query("SELECT count(*) FROM visibility_grant_jobs").first?.decode(0, as: Int.self), 2)
        try producer.query("SELECT * FROM visibility_grant_attempts")
        assertRefused(producer, "UPDATE visibility_grant_jobs SET state = 'succeeded'")
        assertRefused(producer, "DELETE FROM visibility_grant_jobs")
        assertRefused(producer, "INSERT INTO visibility_workers (id, host, pid) VALUES ('x', 'h', 1)")
        assertRefused(producer, "ALTER TABLE visibility_grant_jobs ADD COLUMN x int")
        assertRefused(producer, "DROP TABLE visibility_grant_attempts")
    }

    func testAWorkerMayClaimAndCompleteButNotEnqueueOrAlter() throws {
        try insertJobs(3)
        let worker = try login(as: "visibility_worker")
        XCTAssertEqual(try SchemaMigrator.checkSchema(worker), SchemaMigrator.requiredVersion)
        let queue = GrantQueue(connection: worker)
        try queue.registerWorker(id: "w", host: "h", pid: 1, version: "1.0.0 (commit test)")
        let jobs = try queue.claim(workerID: "w", limit: 3, lease: .seconds(30))
        XCTAssertEqual(jobs.count, 3)
        XCTAssertEqual(try queue.complete(jobs.map {
            GrantJobOutcome(jobID: $0.id, attempt: $0.attempt, disposition: .succeeded, startedAt: Date(), httpStatus: 200)
        }, workerID: "w").count, 3)
        try queue.extendLeases(jobIDs: [1], workerID: "w", lease: .seconds(5))
        try queue.rescueExpiredLeases()
        _ = try queue.stats()
        assertRefused(worker, "INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id) VALUES ('{ding1}', 'u')")
        assertRefused(worker, "ALTER TABLE visibility_grant_jobs ADD COLUMN x int")
        assertRefused(worker, "CREATE INDEX ON visibility_grant_jobs (opt_user_id)")
        assertRefused(worker, "TRUNCATE visibility_grant_jobs")
    }
}
