import Foundation
@testable import GrantQueue
import Postgres
@testable import QueueOperations
@testable import QueueReadModels
import XCTest

/// The console's queue verbs: filters, keyset pages, exact counts, bulk actions
/// that touch only the jobs they may, and plans that stay on their indexes.
final class ConsoleQueueTests: DatabaseTestCase {
    private var queue: GrantQueue { GrantQueue(connection: connection) }

    /// 1-120 jobs: every tenth failed with invalid.param, every seventh (not failed) succeeded,
    /// 1-12 carry ordering key batch-a, the rest pending.
    private func seed() throws {
        try insertJobs(120)
        try connection.query("""
            UPDATE visibility_grant_jobs SET
              state = CASE WHEN id % 10 = 0 THEN 'failed' WHEN id % 7 = 0 THEN 'succeeded' ELSE 'pending' END,
              last_error_code = CASE WHEN id % 10 = 0 THEN 'invalid.param' END,
              attempts = CASE WHEN id % 10 = 0 THEN 3 ELSE 0 END,
              finished_at = CASE WHEN id % 10 = 0 OR id % 7 = 0 THEN now() END,
              ordering_key = CASE WHEN id <= 12 THEN 'batch-a' END,
              idempotency_key = 'key-' || id
            """)
    }

    func testPagesAreNewestFirstAndMeetWithoutGapOrOverlap() throws {
        try seed()
        var seen: [Int64] = []
        var before: Int64?
        repeat {
            let page = try queue.consoleJobs(ConsoleJobFilter(), before: before, limit: 50)
            seen += page.map(\.id)
            before = page.count == 50 ? page.last?.id : nil
        } while before != nil
        XCTAssertEqual(seen, (1...120).reversed().map(Int64.init))
    }

    func testEachFilterPartSelectsWhatItNames() throws {
        try seed()
        let ids = { (filter: ConsoleJobFilter) in try self.queue.consoleJobs(filter, before: nil, limit: 500).map(\.id) }
        XCTAssertEqual(try ids(ConsoleJobFilter(state: "failed")), stride(from: 120, through: 10, by: -10).map(Int64.init))
        XCTAssertEqual(try ids(ConsoleJobFilter(state: "pending", errorCode: "invalid.param")), [])
        XCTAssertEqual(try ids(ConsoleJobFilter(errorCode: "invalid.param")).count, 12)
        XCTAssertEqual(try ids(ConsoleJobFilter(id: 42)), [42])
        XCTAssertEqual(try ids(ConsoleJobFilter(idempotencyKey: "key-17")), [17])
        XCTAssertEqual(try ids(ConsoleJobFilter(state: "pending", orderingKey: "batch-a")), [12, 11, 9, 8, 6, 5, 4, 3, 2, 1])
        try connection.query("INSERT INTO visibility_apps (name, app_key) VALUES ('acme', 'key-acme')")
        try connection.query("UPDATE visibility_grant_jobs SET app = 'acme' WHERE id IN (3, 30, 33)")
        XCTAssertEqual(try ids(ConsoleJobFilter(app: "acme")), [33, 30, 3])
        XCTAssertEqual(try ids(ConsoleJobFilter(state: "failed", app: "acme")), [30])
        XCTAssertEqual(try queue.consoleCount(ConsoleJobFilter(app: "acme"), inState: "pending"), 2)
    }

    func testOverviewCountsAreTheTablesAndTheChartHasEveryMinute() throws {
        try seed()
        try connection.query("""
            INSERT INTO visibility_grant_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome)
            VALUES (10, 1, 'w', now() - interval '3 minutes', now() - interval '150 seconds', 'retry'),
                   (10, 2, 'w', now() - interval '2 minutes', now() - interval '90 seconds', 'failed'),
                   (7, 1, 'w', now(), now(), 'succeeded'),
                   (14, 1, 'w', now() - interval '2 hours', now() - interval '2 hours', 'succeeded')
            """)
        let overview = try queue.consoleOverview()
        for state in QueueStats.states {
            XCTAssertEqual(overview.countsByState[state], try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = $1", [state]), state)
        }
        XCTAssertEqual(overview.minutes.count, 60)
        XCTAssertEqual(overview.minutes.map(\.minutesAgo), Array((0..<60).reversed()))
        let byAgo = Dictionary(uniqueKeysWithValues: overview.minutes.map { ($0.minutesAgo, $0.activity) })
        XCTAssertEqual(byAgo[2], QueueStats.Activity(succeeded: 0, failed: 0, retried: 1))
        XCTAssertEqual(byAgo[1], QueueStats.Activity(succeeded: 0, failed: 1, retried: 0))
        XCTAssertEqual(byAgo[0], QueueStats.Activity(succeeded: 1, failed: 0, retried: 0))
        XCTAssertEqual(overview.minutes.reduce(0) { $0 + $1.activity.succeeded }, 1, "the attempt two hours ago is not in the chart")
        XCTAssertNotNil(overview.oldestDueAgeSeconds)
    }

    func testStatesBiggerThanTheLimitShowTheStatisticsEstimate() throws {
        try seed()
        try connection.query("ANALYZE visibility_grant_jobs")
        try connection.query("UPDATE visibility_grant_jobs SET state = 'cancelled' WHERE id = 1")
        let overview = try queue.consoleOverview(exactCountLimit: 20)
        XCTAssertEqual(overview.estimatedStates, ["pending"], "only pending holds more than 20 jobs")
        let pendingAtAnalyze = try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'pending'") + 1
        XCTAssertEqual(overview.countsByState["pending"], pendingAtAnalyze, "the estimate is as of the last ANALYZE")
        XCTAssertEqual(overview.countsByState["cancelled"], 1, "small states are counted exactly")
    }

    func testBulkActionsTouchOnlyTheJobsTheirCommandWould() throws {
        try seed()
        let batch = ConsoleJobFilter(orderingKey: "batch-a")
        XCTAssertEqual(try queue.consoleCount(batch, inState: "pending"), 10)
        XCTAssertEqual(try queue.consoleCount(batch, inState: "failed"), 1)
        XCTAssertEqual(try queue.consoleCancel(batch, limit: 4), 4, "at most the limit, oldest first")
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'cancelled'"), 4)
        XCTAssertEqual(try count("SELECT max(id) FROM visibility_grant_jobs WHERE state = 'cancelled'"), 4)
        XCTAssertEqual(try queue.consoleCancel(batch, limit: 100), 6)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE ordering_key = 'batch-a' AND state NOT IN ('cancelled')"), 2,
                       "the failed and the succeeded job of the batch are untouched")

        XCTAssertEqual(try queue.consoleRetry(ConsoleJobFilter(errorCode: "invalid.param"), moreAttempts: 5, limit: 100), 12)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'failed'"), 0)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE id % 10 = 0 AND state = 'pending' AND max_attempts = 8"), 12,
                       "as `retry`: attempts so far plus the fresh ones")
        XCTAssertEqual(try queue.consoleRetry(ConsoleJobFilter(id: 7), moreAttempts: 5, limit: 100), 0, "a succeeded job is not retried")
    }

    /// On a table big enough for the planner to care, each filter reads through its index.
    func testFilteredListsUseTheirIndexes() throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, state, ordering_key, last_error_code, finished_at)
            SELECT ARRAY['ding'], 'u' || g, CASE WHEN g % 100 = 0 THEN 'failed' ELSE 'succeeded' END,
                   'order-' || (g % 1000), CASE WHEN g % 100 = 0 THEN 'invalid.param' END, now()
            FROM generate_series(1, 50000) AS g
            """)
        try connection.query("ANALYZE visibility_grant_jobs")
        let plan = { (filter: ConsoleJobFilter) -> String in
            try self.connection.query("EXPLAIN " + GrantQueue.consoleListJobs, filter.parameters + [Int64?.none, 50])
                .map { try $0.decode(0, as: String.self) }.joined(separator: "\n")
        }
        XCTAssertTrue(try plan(ConsoleJobFilter(state: "failed")).contains("visibility_grant_jobs_by_state_not_running_or_succeeded"))
        // Running jobs are left out of that index (a claim adds no entry to it): they have their own.
        XCTAssertTrue(try plan(ConsoleJobFilter(state: "running")).contains("visibility_grant_jobs_running_leases"))
        XCTAssertTrue(try plan(ConsoleJobFilter(state: "failed", errorCode: "invalid.param")).contains("Index"))
        XCTAssertTrue(try plan(ConsoleJobFilter(orderingKey: "order-7")).contains("visibility_grant_jobs_by_ordering_key"))
        for filter in [ConsoleJobFilter(state: "failed"), ConsoleJobFilter(state: "running"), ConsoleJobFilter(orderingKey: "order-7"),
                       ConsoleJobFilter(errorCode: "invalid.param")] {
            XCTAssertFalse(try plan(filter).contains("Seq Scan"), "\(filter)")
        }
    }
}
