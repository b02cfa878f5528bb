import Foundation
import GrantQueue
import Postgres
@testable import QueueHotPath
import XCTest

/// What a claim reads, counted from `EXPLAIN (ANALYZE, BUFFERS)` of the worker's
/// own claim statement, not timed: rows a claim cannot take (jobs not yet due,
/// dead rows a pinned horizon keeps) must cost it nothing.
final class ClaimPathTests: DatabaseTestCase {
    /// A fresh claim of 64 due jobs reads the index's first page or two and the
    /// heap pages of its rows; every page past that is a row it could not take.
    private let pagesOfAFreshClaim = 12

    func testJobsNotYetDueAtAHigherPriorityCostTheClaimNothing() throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, priority, run_at)
            SELECT ARRAY['ding' || g], 'later' || g, 10, now() + interval '30 days' FROM generate_series(1, 20000) AS g
            """)
        try insertJobs(200)
        try connection.query("ANALYZE visibility_grant_jobs")

        let scan = try explainClaim(limit: 64)
        XCTAssertEqual(scan.rows, 64, "the claim takes due jobs")
        XCTAssertLessThanOrEqual(scan.pages, pagesOfAFreshClaim,
                                 "the claim walked past jobs due in 30 days (\(scan.pages) pages read)")
    }

    func testAReaderHeldOpenCostsAClaimAfterItsPositionNothing() throws {
        try insertJobs(3200)
        try connection.query("ANALYZE visibility_grant_jobs")
        let reader = try database.connect()
        try reader.query("BEGIN ISOLATION LEVEL REPEATABLE READ")
        _ = try reader.query("SELECT count(*) FROM visibility_grant_jobs")

        // Each claim leaves the claimed rows' pending versions in the claim index,
        // which vacuum may not remove while the reader is open.
        let queue = GrantQueue(connection: try database.connect())
        var position = ClaimPosition.start
        for _ in 0..<30 {
            let batch = try queue.claim(workerID: "drainer", limit: 100, lease: .seconds(60), after: position)
            XCTAssertEqual(batch.count, 100)
            position = try XCTUnwrap(batch.map(\.position).max())
        }

        let fromStart = try explainClaim(limit: 64)
        let fromPosition = try explainClaim(limit: 64, after: position)
        XCTAssertEqual(fromPosition.rows, 64)
        XCTAssertLessThanOrEqual(fromPosition.pages, pagesOfAFreshClaim,
                                 "the claim after its position read the rows claimed before it (\(fromPosition.pages) pages)")
        XCTAssertGreaterThan(fromStart.pages, 4 * pagesOfAFreshClaim,
                             "from the start, the claim steps over the 3,000 rows the reader keeps (else this test shows nothing)")
        try reader.query("COMMIT")
    }

    func testAClaimAfterAPositionTakesWhatComesAfterItInClaimOrder() throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, priority, run_at) VALUES
              ('{a}', 'p5-old', 5, now() - interval '2 minutes'),
              ('{b}', 'p5-new', 5, now() - interval '1 minute'),
              ('{c}', 'p0-old', 0, now() - interval '2 minutes'),
              ('{d}', 'p0-new', 0, now() - interval '1 minute'),
              ('{e}', 'p-3',   -3, now() - interval '1 hour')
            """)
        let queue = GrantQueue(connection: connection)
        let first = try XCTUnwrap(queue.claim(workerID: "w", limit: 1, lease: .seconds(30)).first)
        XCTAssertEqual(first.optUserId, "p5-old")
        let second = try XCTUnwrap(queue.claim(workerID: "w", limit: 2, lease: .seconds(30), after: first.position))
        XCTAssertEqual(second.map(\.optUserId), ["p5-new", "p0-old"])
        // A job that becomes claimable behind the position is found from the start.
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, priority) VALUES ('{f}', 'p9', 9)")
        let end = try XCTUnwrap(second.map(\.position).max())
        XCTAssertEqual(try queue.claim(workerID: "w", limit: 5, lease: .seconds(30), after: end).map(\.optUserId), ["p0-new", "p-3"])
        XCTAssertEqual(try queue.claim(workerID: "w", limit: 5, lease: .seconds(30), after: end).map(\.optUserId), [])
        XCTAssertEqual(try queue.claim(workerID: "w", limit: 5, lease: .seconds(30)).map(\.optUserId), ["p9"])
    }

    /// `--until-empty` asks every 200 ms whether anything could still run soon.
    func testTheUntilEmptyCheckReadsOnlyLiveWork() throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, priority, run_at)
            SELECT ARRAY['ding' || g], 'later' || g, 10, now() + interval '30 days' FROM generate_series(1, 20000) AS g
            """)
        try connection.query("ANALYZE visibility_grant_jobs")
        let queue = GrantQueue(connection: connection)
        XCTAssertFalse(try queue.hasUnfinishedJobs(apps: [GrantApp.defaultName], dueWithin: .seconds(60)))
        let plan = try connection.query(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + GrantQueue.unfinishedDueSoonForApps.sql, [[GrantApp.defaultName], 60.0]
        ).first?.decode(0, as: String.self) ?? ""
        let pages = try XCTUnwrap((JSONSerialization.jsonObject(with: Data(plan.utf8)) as? [[String: Any]])?.first?["Plan"] as? [String: Any])
        let read = (pages["Shared Hit Blocks"] as? Int ?? 0) + (pages["Shared Read Blocks"] as? Int ?? 0)
        XCTAssertLessThanOrEqual(read, pagesOfAFreshClaim, "the check read past 20,000 jobs due in 30 days (\(read) pages)")

        // What could still run: a job queued for a minute from now, a keyed arrival.
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, run_at) VALUES ('{a}', 'soon', now() + interval '30 seconds')")
        XCTAssertTrue(try queue.hasUnfinishedJobs(apps: [GrantApp.defaultName], dueWithin: .seconds(60)))
        XCTAssertFalse(try queue.hasUnfinishedJobs(apps: [GrantApp.defaultName], dueWithin: .seconds(10)))
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key) VALUES ('{b}', 'keyed', 'k')")
        XCTAssertTrue(try queue.hasUnfinishedJobs(apps: [GrantApp.defaultName], dueWithin: .seconds(10)), "an arrival not yet admitted")

        // A keyed job behind a head of another app: it runs once that head is done.
        try connection.query("DELETE FROM visibility_grant_jobs WHERE opt_user_id IN ('soon', 'keyed')")
        try connection.query("INSERT INTO visibility_apps (name, app_key) VALUES ('other', 'key-other')")
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key, app) VALUES ('{c}', 'head', 'shared', 'other')")
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key) VALUES ('{d}', 'behind', 'shared')")
        _ = try queue.admitArrivals()
        XCTAssertTrue(try XCTUnwrap(connection.query("SELECT ordering_blocked FROM visibility_grant_jobs WHERE opt_user_id = 'behind'").first?.decode(0, as: Bool.self)))
        XCTAssertTrue(try queue.hasUnfinishedJobs(apps: [GrantApp.defaultName], dueWithin: .seconds(10)),
                      "a job of this app waits behind another app's head")
    }

    // MARK: - Reading the plan

    struct ClaimScan {
        /// Rows the scan under the claim's CTE returned.
        var rows: Int
        /// Pages (shared hit + read) that scan touched: index and heap.
        var pages: Int
    }

    /// Runs the worker's claim statement under `EXPLAIN (ANALYZE, BUFFERS)` and
    /// rolls it back; returns the figures of the scan that chooses the jobs.
    func explainClaim(limit: Int, app: String = GrantApp.defaultName, after position: ClaimPosition = .start) throws -> ClaimScan {
        let parameters = GrantQueue.claimParameters(workerID: "explainer", limit: limit, lease: .seconds(60), app: app, after: position)
        try connection.query("BEGIN")
        defer { _ = try? connection.query("ROLLBACK") }
        let rows = try connection.query("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + GrantQueue.claimBatch.sql, parameters)
        let text = try XCTUnwrap(rows.first?.decode(0, as: String.self))
        let plan = try XCTUnwrap((JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])?.first?["Plan"] as? [String: Any])
        let scan = try XCTUnwrap(Self.jobScan(under: plan, inCTE: false), "no scan of visibility_grant_jobs in the claim's CTE:\n\(text)")
        return ClaimScan(rows: scan["Actual Rows"] as? Int ?? -1,
                         pages: (scan["Shared Hit Blocks"] as? Int ?? 0) + (scan["Shared Read Blocks"] as? Int ?? 0))
    }

    /// The scan of the jobs table inside the CTE that picks the jobs (not the
    /// UPDATE's own lookup by id).
    private static func jobScan(under node: [String: Any], inCTE: Bool) -> [String: Any]? {
        let here = inCTE || (node["Subplan Name"] as? String)?.hasPrefix("CTE next") == true
        if here, node["Relation Name"] as? String == "visibility_grant_jobs", (node["Node Type"] as? String)?.contains("Scan") == true {
            return node
        }
        for child in node["Plans"] as? [[String: Any]] ?? [] {
            if let found = jobScan(under: child, inCTE: here) { return found }
        }
        return nil
    }
}
