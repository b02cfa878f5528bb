import Foundation
import GrantQueue
import Postgres
import XCTest

final class StatusTests: DatabaseTestCase {
    func testStatusJSONReportsTheSeededCounts() throws {
        try insertJobs(7)
        try connection.query("""
            UPDATE visibility_grant_jobs SET state = CASE
                WHEN id <= 2 THEN 'succeeded' WHEN id = 3 THEN 'failed' WHEN id = 4 THEN 'cancelled' ELSE 'pending' END,
              last_error_code = CASE WHEN id = 3 THEN 'invalid.param' WHEN id = 5 THEN 'system.busy' END,
              run_at = CASE WHEN id = 6 THEN now() + interval '1 hour' ELSE now() - interval '10 seconds' END
            """)
        try connection.query("INSERT INTO visibility_workers (id, host, pid) VALUES ('host-a-1', 'host-a', 1), ('host-b-2', 'host-b', 2)")
        try connection.query("INSERT INTO visibility_workers (id, host, pid, heartbeat_at) VALUES ('gone', 'host-c', 3, now() - interval '1 hour')")

        let result = try runWorker(["status", "--json"], environment: ["DATABASE_URL": try database.conninfo()])
        XCTAssertEqual(result.status, 0, result.stderr)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let stats = try decoder.decode(QueueStats.self, from: Data(result.stdout.utf8))
        XCTAssertEqual(stats.countsByState, ["pending": 3, "running": 0, "succeeded": 2, "failed": 1, "cancelled": 1])
        XCTAssertEqual(stats.scheduledPending, 1)
        XCTAssertEqual(try XCTUnwrap(stats.oldestPendingAgeSeconds), 10, accuracy: 5)
        XCTAssertEqual(stats.errorCodes.map { "\($0.code)/\($0.state)/\($0.count)" }.sorted(),
                       ["invalid.param/failed/1", "system.busy/pending/1"])
        XCTAssertEqual(stats.workers.map(\.id), ["host-a-1", "host-b-2"])

        let table = try runWorker(["status"], environment: ["DATABASE_URL": try database.conninfo()])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stdout.contains("pending     3  (1 not due yet)"), table.stdout)
        XCTAssertTrue(table.stdout.contains("invalid.param"), table.stdout)
    }
}
