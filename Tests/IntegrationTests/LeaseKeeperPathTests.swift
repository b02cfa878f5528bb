import Foundation
import GrantQueue
import Postgres
@testable import QueueHotPath
import XCTest

/// What the lease keeper's statements read, counted from `EXPLAIN (ANALYZE,
/// BUFFERS)`: like the claim, neither may step over every row a pinned horizon
/// keeps. Each runs every third of a lease on every worker.
final class LeaseKeeperPathTests: DatabaseTestCase {
    /// A statement that finds its rows by key reads a few index and heap pages.
    private let pagesOfAKeyedRead = 24

    /// 3,000 jobs whose running versions an open REPEATABLE READ reader keeps: each
    /// was claimed with a lease that had run out a minute before, and rescued.
    private func keepDeadRunningVersions(_ reader: PostgresConnection, queue: GrantQueue) throws {
        try insertJobs(3000)
        try connection.query("VACUUM ANALYZE visibility_grant_jobs")
        try reader.query("BEGIN ISOLATION LEVEL REPEATABLE READ")
        _ = try reader.query("SELECT count(*) FROM visibility_grant_jobs")
        var position = ClaimPosition.start
        for _ in 0..<30 {
            let batch = try queue.claim(workerID: "gone", limit: 100, lease: .seconds(-60), after: position)
            position = try XCTUnwrap(batch.map(\.position).max())
        }
        XCTAssertEqual(try queue.rescueExpiredLeases(limit: 5000).count, 3000)
    }

    /// Pages read to find the rows `statement` locks (its `FOR UPDATE` scans, not
    /// the writes that follow), prepared with `types` and run as a generic plan
    /// (what a named statement becomes after five runs), rolled back.
    private func genericPlanPages(_ statement: PostgresStatement, types: String, arguments: String) throws -> Int {
        try connection.query("PREPARE probe (\(types)) AS " + statement.sql)
        defer { _ = try? connection.query("DEALLOCATE probe") }
        try connection.query("SET plan_cache_mode = force_generic_plan")
        defer { _ = try? connection.query("RESET plan_cache_mode") }
        try connection.query("BEGIN")
        defer { _ = try? connection.query("ROLLBACK") }
        let text = try XCTUnwrap(connection.query("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE probe(\(arguments))")
            .first?.decode(0, as: String.self))
        let plan = try XCTUnwrap((JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])?.first?["Plan"] as? [String: Any])
        let locking = Self.nodes(plan).filter { $0["Node Type"] as? String == "LockRows" }
        XCTAssertFalse(locking.isEmpty, "no FOR UPDATE scan in the plan:\n\(text)")
        return locking.reduce(0) { $0 + ($1["Shared Hit Blocks"] as? Int ?? 0) + ($1["Shared Read Blocks"] as? Int ?? 0) }
    }

    private static func nodes(_ node: [String: Any]) -> [[String: Any]] {
        [node] + (node["Plans"] as? [[String: Any]] ?? []).flatMap(nodes)
    }

    func testExtendingLeasesReadsOnlyTheJobsItExtends() throws {
        let reader = try database.connect()
        let queue = GrantQueue(connection: try database.connect())
        try keepDeadRunningVersions(reader, queue: queue)
        let mine = try queue.claim(workerID: "me", limit: 3, lease: .seconds(30))
        XCTAssertEqual(mine.count, 3)

        let ids = mine.map { String($0.id) }.joined(separator: ",")
        let pages = try genericPlanPages(GrantQueue.extendLeases, types: "text, bigint[], float8", arguments: "'me', '{\(ids)}', 30")
        XCTAssertLessThanOrEqual(pages, pagesOfAKeyedRead,
                                 "extending 3 leases read \(pages) pages: it stepped over the 3,000 running versions the reader keeps")
        XCTAssertEqual(try queue.extendLeases(jobIDs: mine.map(\.id), workerID: "me", lease: .seconds(30)), 3)
        try reader.query("COMMIT")
    }

    func testARescueLooksOnlyAsFarBackAsItsLastPass() throws {
        let reader = try database.connect()
        let queue = GrantQueue(connection: try database.connect())
        try keepDeadRunningVersions(reader, queue: queue)
        // One lease that ran out 5 s ago, not yet taken back.
        let lapsed = try XCTUnwrap(queue.claim(workerID: "gone", limit: 1, lease: .seconds(-5)).first)

        let windowed = try genericPlanPages(GrantQueue.rescueExpiredLeases, types: "int, float8", arguments: "1000, 30")
        let full = try genericPlanPages(GrantQueue.rescueExpiredLeases, types: "int, float8", arguments: "1000, NULL")
        XCTAssertLessThanOrEqual(windowed, pagesOfAKeyedRead,
                                 "a rescue over the last 30 s read \(windowed) pages: it stepped over leases that ran out a minute ago")
        XCTAssertGreaterThan(full, 4 * pagesOfAKeyedRead, "a full rescue steps over the 3,000 kept versions (else this test shows nothing)")
        XCTAssertEqual(try queue.rescueExpiredLeases(lookBack: .seconds(30)).map(\.id), [lapsed.id])
        try reader.query("COMMIT")
    }
}
