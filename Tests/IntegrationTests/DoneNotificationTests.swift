import Foundation
import GrantQueue
import Postgres
import XCTest

/// The done notification (sql/010, made linear in 015) names the jobs a statement
/// finished: finished after it, and not before it. Driven by plain UPDATEs, so
/// that one statement can mix every kind of row.
final class DoneNotificationTests: DatabaseTestCase {
    /// The ids named by the notifications received so far, and their payloads.
    private func namedIDs(_ listener: PostgresConnection) throws -> (ids: [Int64], payloads: [String]) {
        let payloads = try donePayloads(on: listener)
        return (payloads.flatMap { $0.split(separator: ",").compactMap { Int64($0) } }, payloads)
    }

    private func ids(_ condition: String) throws -> [Int64] {
        try connection.query("SELECT id FROM visibility_grant_jobs WHERE \(condition) ORDER BY id").map { try $0.decode(0) }
    }

    func testEachStatementNamesOnlyTheJobsItFinished() throws {
        let listener = try database.connect()
        try listener.listen(GrantQueue.doneChannel)
        try insertJobs(1_000)

        // A claim of every job finishes none (by hand, let through the claim fence).
        try claimByHandAsACurrentBuild()
        try connection.query("""
            UPDATE visibility_grant_jobs SET state = 'running', locked_by = 'w', locked_until = now() + interval '1 hour',
                attempts = attempts + 1
            """)
        XCTAssertEqual(try namedIDs(listener).ids, [])

        // Half succeed, half go back to pending (a retriable outcome): the first half, in
        // payloads of at most 390 ids.
        try connection.query("""
            UPDATE visibility_grant_jobs
            SET state = CASE WHEN id % 2 = 0 THEN 'succeeded' ELSE 'pending' END, locked_by = NULL, locked_until = NULL,
                finished_at = CASE WHEN id % 2 = 0 THEN now() END
            """)
        let succeeded = try ids("state = 'succeeded'")
        XCTAssertEqual(succeeded.count, 500)
        let finished = try namedIDs(listener)
        XCTAssertEqual(finished.ids.sorted(), succeeded)
        XCTAssertEqual(finished.payloads.count, 2)

        // Every row cancelled in one statement: the succeeded ones were finished already.
        try connection.query("UPDATE visibility_grant_jobs SET state = 'cancelled', finished_at = coalesce(finished_at, now())")
        XCTAssertEqual(try namedIDs(listener).ids.sorted(), try ids("id % 2 = 1"))

        // Finished rows written again finish nothing.
        try connection.query("UPDATE visibility_grant_jobs SET last_error_message = 'touched'")
        XCTAssertEqual(try namedIDs(listener).ids, [])
    }
}
