import Foundation
import GrantQueue
import Postgres
import QueueHotPath
import QueueReadModels
import XCTest

/// `status` counts rows in a shape no worker leaves behind, by reason.
final class UnexplainedRowsTests: DatabaseTestCase {
    func testStatusCountsEachKindOfUnexplainedRow() throws {
        try insertJobs(8)
        // 1: running with a ten-year lease; 2-3: succeeded without an attempt (and 3 without
        // finished_at); 4: failed without finished_at; 5: pending with finished_at; 6: a
        // succeeded row as a worker leaves it; 7: running as a worker leaves it; 8: pending.
        // The test connects as a superuser, whom the guard of sql/009 lets write any row.
        try claimByHandAsACurrentBuild()
        try connection.query("""
            UPDATE visibility_grant_jobs SET
              state = CASE WHEN id IN (1, 7) THEN 'running' WHEN id IN (2, 3, 6) THEN 'succeeded'
                           WHEN id = 4 THEN 'failed' ELSE 'pending' END,
              locked_by = CASE WHEN id IN (1, 7) THEN 'w' END,
              locked_until = CASE WHEN id = 1 THEN now() + interval '10 years' WHEN id = 7 THEN now() + interval '30 seconds' END,
              attempts = CASE WHEN id IN (4, 6, 7) THEN 1 ELSE 0 END,
              finished_at = CASE WHEN id IN (2, 5, 6) THEN now() END
            """)
        let json = try runWorker(["status", "--json"], environment: try databaseEnvironment())
        XCTAssertEqual(json.status, 0, json.stderr)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let unexplained = try decoder.decode(QueueStats.self, from: Data(json.stdout.utf8)).unexplainedRows
        XCTAssertEqual(unexplained.runningWithoutLease, 0, "a CHECK keeps these out")
        XCTAssertEqual(unexplained.runningWithLeaseTooLong, 1)
        XCTAssertEqual(unexplained.succeededWithoutAttempt, 2)
        XCTAssertEqual(unexplained.finishedWithoutFinishedAt, 2)
        XCTAssertEqual(unexplained.unfinishedWithFinishedAt, 1)
        XCTAssertTrue(json.stdout.contains(#""total" : 6"#), json.stdout)

        let table = try runWorker(["status"], environment: try databaseEnvironment())
        XCTAssertEqual(table.status, 0, table.stderr)
        print("producer-contract: status shows:\n" + table.stdout.split(separator: "\n").filter {
            $0.hasPrefix("rows no worker") || $0.hasPrefix("  ")
        }.joined(separator: "\n"))
        for line in ["rows no worker can explain: 6", "  running with a lease over 60 minutes ahead        1",
                     "  succeeded without an attempt                      2", "  finished without finished_at                      2",
                     "  pending or running with finished_at               1"] {
            XCTAssertTrue(table.stdout.contains(line + "\n"), "\(line) in:\n\(table.stdout)")
        }
        XCTAssertFalse(table.stdout.contains("running without a lease"), "reasons with no rows are left out")
    }

    func testAQueueWorkersWroteHasNone() throws {
        try insertJobs(3)
        let queue = GrantQueue(connection: connection)
        let jobs = try queue.claim(workerID: "w", limit: 2, lease: .seconds(30))
        _ = try queue.complete([GrantJobOutcome(jobID: jobs[0].id, attempt: jobs[0].attempt, disposition: .succeeded,
                                                startedAt: Date(), httpStatus: 200)], workerID: "w")
        XCTAssertEqual(try queue.stats().unexplainedRows, QueueStats.UnexplainedRows())
        let table = try runWorker(["status"], environment: try databaseEnvironment())
        XCTAssertTrue(table.stdout.contains("rows no worker can explain: 0\n"), table.stdout)
    }
}
