import Foundation
import GrantQueue
import Postgres
import QueueReadModels
import XCTest

/// A transaction left open (a report, `pg_dump`, a forgotten `psql`) keeps every
/// dead row of the jobs table, and every claim steps over them: operators see
/// both in `status` (and the console, and each worker's gauges).
final class HorizonTests: DatabaseTestCase {
    func testAReaderLeftOpenAndTheDeadRowsItKeepsShowInStatus() async throws {
        let queue = GrantQueue(connection: connection)
        XCTAssertNil(try queue.horizon().oldestTransactionAgeSeconds, "no transaction is open before the reader")
        try insertJobs(500)
        let reader = try database.connect()
        try reader.query("BEGIN ISOLATION LEVEL REPEATABLE READ")
        _ = try reader.query("SELECT count(*) FROM visibility_grant_jobs")
        let readerPID = try XCTUnwrap(reader.query("SELECT pg_backend_pid()").first?.decode(0, as: Int32.self))
        try connection.query("DELETE FROM visibility_grant_jobs")
        // The deleting session reports its counts to the statistics views shortly after.
        try await waitUntil(timeout: .seconds(30), "the dead rows to be counted") { try queue.horizon().jobsDeadRows >= 500 }
        // Measured before status runs, so status's figure can only be larger.
        let readerAge = try XCTUnwrap(connection.query(
            "SELECT extract(epoch FROM now() - xact_start)::float8 FROM pg_stat_activity WHERE pid = $1", [readerPID]
        ).first?.decode(0, as: Double.self))

        let status = try await runWorker(["status", "--json"], environment: try databaseEnvironment())
        XCTAssertEqual(status.status, 0, status.stderr)
        let stats = try JSONDecoder.iso8601.decode(QueueStats.self, from: Data(status.stdout.utf8))
        let age = try XCTUnwrap(stats.database.oldestTransactionAgeSeconds, status.stdout)
        XCTAssertGreaterThanOrEqual(age, readerAge)
        XCTAssertGreaterThanOrEqual(stats.database.jobsDeadRows, 500, "vacuum cannot remove what the reader may still see")
        let text = try await runWorker(["status"], environment: try databaseEnvironment())
        XCTAssertTrue(text.stdout.contains("oldest transaction holding back vacuum: open"), text.stdout)

        try reader.query("COMMIT")
        XCTAssertNil(try queue.horizon().oldestTransactionAgeSeconds, "the reader is gone")
    }
}
