import Foundation
@testable import GrantQueue
import Postgres
import QueueReadModels
import XCTest

/// Each app's backlog signals for autoscalers: read at a bounded cost, and
/// telling a drain held at its cap, a paused app and a stall apart.
final class AppSignalsTests: DatabaseTestCase {
    /// Pages (shared hit + read) a statement touched, from EXPLAIN (ANALYZE, BUFFERS).
    private func pagesRead(_ sql: String, _ parameters: [any PostgresEncodable] = []) throws -> Int {
        let text = try XCTUnwrap(connection.query("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, parameters).first?.decode(0, as: String.self))
        let plan = try XCTUnwrap((JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])?.first?["Plan"] as? [String: Any])
        return (plan["Shared Hit Blocks"] as? Int ?? 0) + (plan["Shared Read Blocks"] as? Int ?? 0)
    }

    func testTheSignalsReadABoundedStretchWhateverTheBacklog() throws {
        // 30,000 due jobs; the oldest due is a low-priority one, an hour behind.
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, priority, run_at)
            SELECT ARRAY['ding' || g], 'u' || g, 5, now() - interval '1 minute' FROM generate_series(1, 30000) AS g
            """)
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, priority, run_at) VALUES ('{d}', 'old', -3, now() - interval '1 hour')")
        try connection.query("VACUUM ANALYZE visibility_grant_jobs")
        let options = AppSignals.Options(countLimit: 1000)
        let signals = try XCTUnwrap(GrantQueue(connection: connection).appSignals(options).first { $0.app == GrantApp.defaultName })
        XCTAssertEqual(signals.dueJobs, 1000)
        XCTAssertTrue(signals.dueJobsAtLeast)
        XCTAssertEqual(try XCTUnwrap(signals.oldestDueJobAgeSeconds), 3600, accuracy: 60, "the oldest due job, whatever its priority")

        let bounded = try pagesRead(GrantQueue.readAppSignals.sql, [options.countLimit, options.liveWithin.seconds])
        let fullCount = try pagesRead("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'pending' AND run_at <= now()")
        XCTAssertLessThanOrEqual(bounded * 5, fullCount,
                                 "the signals read \(bounded) pages; a count of the whole backlog reads \(fullCount)")
    }

    /// The planner prices the per-app reads by the apps table's statistics (none
    /// before its first ANALYZE) and asked for JIT: 600 ms of compiling, on an empty
    /// queue, for a read that runs in a millisecond.
    func testTheSignalsAreNotCompiledOnAFreshSchema() throws {
        let connection = try database.connect()
        let text = try XCTUnwrap(connection.query("EXPLAIN (ANALYZE, FORMAT JSON) " + GrantQueue.readAppSignals.sql, [10_000, 60.0])
            .first?.decode(0, as: String.self))
        let plan = try XCTUnwrap((JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])?.first)
        XCTAssertNil(plan["JIT"], "the signals read was JIT-compiled: \(plan["JIT"] ?? "")")
    }

    func testStatusTellsACappedDrainAPauseAndAStallApart() async throws {
        try connection.query("INSERT INTO visibility_apps (name, app_key, global_qps) VALUES ('capped', 'key-capped', 20)")
        try connection.query("""
            INSERT INTO visibility_apps (name, app_key, paused_until, pause_reason, paused_since)
            VALUES ('held', 'key-held', now() + interval '1 hour', 'quota used up', now())
            """)
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, app, run_at)
            SELECT ARRAY['ding' || g], 'u' || g, app, now() - interval '2 minutes'
            FROM generate_series(1, 100) AS g, unnest(ARRAY['capped', 'held', 'default']) AS app
            """)
        // A worker that finished a `capped` job a second ago keeps it from being stalled.
        try connection.query("""
            INSERT INTO visibility_workers (id, host, pid, last_outcome_by_app)
            VALUES ('w1', 'h', 1, jsonb_build_object('capped', extract(epoch FROM now()) - 1))
            """)
        let result = try await runWorker(["status", "--json"], environment: try databaseEnvironment())
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let apps = Dictionary(uniqueKeysWithValues: try XCTUnwrap(object["apps"] as? [[String: Any]], result.stdout).map {
            ($0["name"] as? String ?? "?", $0)
        })
        let capped = try XCTUnwrap(apps["capped"]), held = try XCTUnwrap(apps["held"]), plain = try XCTUnwrap(apps["default"])
        XCTAssertEqual(capped["dueJobs"] as? Int, 100)
        XCTAssertEqual(capped["allowedCallsPerSecond"] as? Double, 20)
        XCTAssertEqual(capped["secondsToDrain"] as? Double, 5)
        XCTAssertEqual(capped["stalled"] as? Bool, false, "a worker finished one of its jobs a second ago")
        XCTAssertEqual(try XCTUnwrap(capped["oldestDueJobAgeSeconds"] as? Double), 120, accuracy: 30)
        XCTAssertEqual(held["allowedCallsPerSecond"] as? Double, 0, "a paused app may make no calls")
        XCTAssertNil(held["secondsToDrain"], "no rate to drain at while paused")
        XCTAssertEqual(held["stalled"] as? Bool, false, "a pause is not a stall: it has a cause and an end")
        XCTAssertEqual(plain["stalled"] as? Bool, true, "due for 2 minutes, and no worker has finished any of its jobs")
        XCTAssertNil(plain["allowedCallsPerSecond"], "uncapped: status cannot know a rate")

        // The KEDA scaler's query in docs/OPERATIONS.md reads the same: the paused app
        // left out, the others 100 due jobs at 20 calls/s (its default cap for `default`).
        let operations = try String(contentsOf: TestEnvironment.packageRoot.appendingPathComponent("docs/OPERATIONS.md"), encoding: .utf8)
        let block = try XCTUnwrap(operations.firstMatch(of: /query: >-\n((?:          .*\n)+)/)?.output.1, "no KEDA query in OPERATIONS.md")
        XCTAssertEqual(try connection.query(String(block)).first?.decode(0, as: Double.self), 5, String(block))

        let text = try await runWorker(["status"], environment: try databaseEnvironment())
        XCTAssertNotNil(text.stdout.firstMatch(of: /capped\s+100\s+1\d\d\.\d s\s+20\s+5\s+no/), text.stdout)
        XCTAssertNotNil(text.stdout.firstMatch(of: /default\s+100\s+.*YES/), text.stdout)
    }
}
