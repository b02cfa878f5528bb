import Foundation
import Postgres
@testable import GrantQueue
@testable import QueueHotPath
import XCTest

/// scripts/bench's raw-SQL ceiling (pgbench) must run the worker's own claim and
/// completion statements, not a copy that could drift from them. The script is
/// made from the statements in Sources; this test fails when the committed file
/// differs, and rewrites it when REGENERATE_BENCH_SQL=1. (A pgbench script, with
/// `\set` and `\gset`, not plain SQL: hence `.pgbench`.)
final class PgbenchScriptTests: XCTestCase {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/bench.d/claim_complete.pgbench")

    func testTheBenchmarkRunsTheWorkersOwnStatements() throws {
        let script = Self.makeScript()
        if ProcessInfo.processInfo.environment["REGENERATE_BENCH_SQL"] == "1" {
            try script.write(to: Self.path, atomically: true, encoding: .utf8)
        }
        let committed = try String(contentsOf: Self.path, encoding: .utf8)
        XCTAssertEqual(committed, script, "scripts/bench.d/claim_complete.pgbench is not the worker's statements: "
                       + "regenerate it with REGENERATE_BENCH_SQL=1 swift test --filter PgbenchScriptTests")
    }

    /// Scenario P times the app signals every worker reads for its gauges: the
    /// worker's statement, with its defaults (`AppSignals.Options`) in place of the parameters.
    func testTheStatusBenchmarkRunsTheWorkersSignalsStatement() throws {
        let path = Self.path.deletingLastPathComponent().appendingPathComponent("app_signals.sql")
        let options = AppSignals.Options()
        let script = "-- The app signals every worker reads for its gauges (GrantQueue.readAppSignals), made by\n"
            + "-- PgbenchScriptTests with AppSignals.Options' defaults; scenario P of scripts/bench times it.\n"
            + Self.substitute(GrantQueue.readAppSignals.sql, ["\(options.countLimit)", "\(Int(options.liveWithin.seconds))"]) + ";\n"
        if ProcessInfo.processInfo.environment["REGENERATE_BENCH_SQL"] == "1" {
            try script.write(to: path, atomically: true, encoding: .utf8)
        }
        XCTAssertEqual(try String(contentsOf: path, encoding: .utf8), script, "scripts/bench.d/app_signals.sql is not the worker's "
                       + "statement: regenerate it with REGENERATE_BENCH_SQL=1 swift test --filter PgbenchScriptTests")
    }

    /// `$N` of `sql` replaced by `values[N-1]`, highest numbers first so `$1` does not eat `$10`.
    static func substitute(_ sql: String, _ values: [String]) -> String {
        var text = sql
        for (index, value) in values.enumerated().reversed() {
            text = text.replacingOccurrences(of: "$\(index + 1)", with: value)
        }
        return text
    }

    static func makeScript() -> String {
        let worker = "('pgbench-' || :worker)"
        // Indented: scripts/bench cuts the claim out again (up to the ")" in column 0) to EXPLAIN it.
        // From the start of the claim order, as a worker's claim is whenever that costs little.
        let start = ClaimPosition.start
        let claim = substitute(GrantQueue.claimBatch.sql, [
            worker, ":batch", "30", "'default'", "'\(SchemaMigrator.requiredVersion)'",
            "\(start.priority)", "'\(PostgresTimestamp.format(start.runAt))'", "\(start.id)",
        ])
            .split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n")
        // One outcome per claimed job: succeeded, as the fake API would answer.
        func each(_ value: String) -> String { "array_fill(\(value), ARRAY[:claimed])" }
        let complete = substitute(GrantQueue.completeBatch.sql, [
            worker, "'{:ids}'", "'{:tries}'", each("'succeeded'::text"), each("NULL::timestamptz"), each("now()"),
            each("true"), each("200"), each("NULL::text"), each("NULL::text"), each("'bench'::text"),
        ])
        return """
            -- pgbench: the worker's claim and complete statements (GrantQueue.claimBatch and
            -- GrantQueue.completeBatch), batch :batch; made by Tests/GrantQueueTests/PgbenchScriptTests.swift.
            -- The raw-SQL ceiling of scenario A in BENCHMARKS.md.
            \\set worker random(1, 1000000000)
            WITH claimed AS (
            \(claim)
            )
            SELECT count(*) AS claimed, coalesce(string_agg(id::text, ','), '') AS ids,
                   coalesce(string_agg(attempts::text, ','), '') AS tries
            FROM claimed
            \\gset
            \(complete);

            """
    }
}
