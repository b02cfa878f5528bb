import Foundation
@testable import GrantQueue
import Postgres
@testable import QueueReadModels
import XCTest

/// `status` and the console overview read a bounded part of the table, whatever
/// its size: counted from `pg_stat_xact_user_tables` (rows this transaction read
/// from the jobs table, by sequential scans and by index), not timed.
final class StatusAtScaleTests: DatabaseTestCase {
    /// 150,000 succeeded, 20,000 pending and due, 10,000 queued for later, 2 failed.
    private func seed() throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, state, attempts, locked_by, finished_at)
            SELECT ARRAY['ding' || g], 'done-' || g, 'succeeded', 1, 'w', now() - make_interval(secs => g) FROM generate_series(1, 150000) AS g
            """)
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, run_at)
            SELECT ARRAY['ding' || g], 'due-' || g, now() - interval '1 minute' FROM generate_series(1, 20000) AS g
            """)
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, run_at)
            SELECT ARRAY['ding' || g], 'later-' || g, now() + interval '30 days' FROM generate_series(1, 10000) AS g
            """)
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, state, attempts, last_error_code, finished_at)
            VALUES ('{d}', 'f1', 'failed', 1, 'invalid.param', now()), ('{d}', 'f2', 'failed', 1, 'invalid.param', now())
            """)
        try connection.query("VACUUM ANALYZE visibility_grant_jobs")
    }

    /// Rows of the jobs table that `read` made this transaction fetch.
    private func rowsRead(_ read: () throws -> Void) throws -> Int {
        try connection.query("BEGIN")
        defer { _ = try? connection.query("ROLLBACK") }
        try read()
        return try XCTUnwrap(connection.query("""
            SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables WHERE relname = 'visibility_grant_jobs'
            """).first?.decode(0, as: Int.self))
    }

    func testStatusReadsABoundedPartOfTheTable() throws {
        try seed()
        let queue = GrantQueue(connection: connection)
        var stats = QueueStats(countsByState: [:], scheduledPending: 0, oldestPendingAgeSeconds: nil, lastMinute: .init(),
                               lastHour: .init(), errorCodes: [], workers: [])
        let read = try rowsRead { stats = try queue.stats(exactCountLimit: 5000) }
        XCTAssertLessThanOrEqual(read, 30_000, "status read \(read) rows of a 180,002-row table")

        XCTAssertEqual(stats.estimatedStates, ["succeeded", "pending"], "the two states over the limit are estimated")
        XCTAssertEqual(Double(stats.countsByState["succeeded"] ?? 0), 150_000, accuracy: 15_000)
        XCTAssertEqual(stats.countsByState["failed"], 2, "a small state is counted exactly")
        XCTAssertEqual(stats.scheduledPending, 5000)
        XCTAssertTrue(stats.scheduledPendingAtLeast)
        XCTAssertEqual(try XCTUnwrap(stats.oldestPendingAgeSeconds), 60, accuracy: 30)
        let app = try XCTUnwrap(stats.apps.first { $0.name == GrantApp.defaultName })
        XCTAssertEqual(app.dueJobs, 10_000)
        XCTAssertEqual(app.dueJobsAtLeast, true)
        XCTAssertNil(app.unfinishedJobs, "status counts each app's due jobs, not every unfinished one")
        XCTAssertEqual(stats.unexplainedRows.total, 0)
        XCTAssertEqual(stats.errorCodes.first?.count, 2)

        // The command, with its own limit (100,000): only the succeeded jobs are too many.
        let text = try runWorker(["status"], environment: try databaseEnvironment()).stdout
        XCTAssertNotNil(text.firstMatch(of: /succeeded\s+≈ \d+ \(estimate/), text)
        XCTAssertNotNil(text.firstMatch(of: /pending\s+30000\s+\(10000 not due yet\)/), text)
        XCTAssertNotNil(text.firstMatch(of: /default\s+10000\+/), text)
    }

    func testTheUnexplainedRowsAreFoundThroughTheirOwnIndexes() throws {
        try seed()
        try connection.query("ALTER TABLE visibility_grant_jobs DISABLE TRIGGER USER")
        defer { _ = try? connection.query("ALTER TABLE visibility_grant_jobs ENABLE TRIGGER USER") }
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, state, attempts, finished_at)
            VALUES ('{d}', 'by-hand-1', 'succeeded', 0, now()), ('{d}', 'by-hand-2', 'pending', 0, now())
            """)
        let queue = GrantQueue(connection: connection)
        var rows = QueueStats.UnexplainedRows()
        let read = try rowsRead { rows = try queue.unexplainedRows() }
        XCTAssertEqual(rows.succeededWithoutAttempt, 1)
        XCTAssertEqual(rows.unfinishedWithFinishedAt, 1)
        XCTAssertLessThanOrEqual(read, 10, "the five shapes read \(read) rows: each has an index that holds only its rows")
    }

    func testTheConsoleOverviewReadsABoundedPartOfTheTable() throws {
        try seed()
        let queue = GrantQueue(connection: connection)
        var overview: ConsoleOverview?
        let read = try rowsRead { overview = try queue.consoleOverview(exactCountLimit: 5000) }
        XCTAssertLessThanOrEqual(read, 30_000, "the overview read \(read) rows of a 180,002-row table")
        XCTAssertEqual(overview?.apps.first { $0.name == GrantApp.defaultName }?.dueJobs, 10_000)
        XCTAssertEqual(overview?.scheduledPendingAtLeast, true)
    }
}
