import Foundation
import GrantQueue
import Postgres

/// The counts `status` and the console show, each read at a cost that does not
/// grow with the table: a state expected to hold more than a limit is estimated
/// from the planner's statistics (and shown as an estimate), the rest are counted
/// through an index; rows in shapes no worker leaves behind are counted through
/// partial indexes that hold only such rows (sql/022).
extension GrantQueue {
    /// How many rows of each state the planner's statistics expect (row estimate
    /// times the state's share among the most common values; 0 for a state too rare
    /// to be listed, or before the first ANALYZE). Costs nothing whatever the size.
    static let estimateByState = """
        WITH statistics AS (
            SELECT greatest(c.reltuples, 0)::float8 AS total,
                   s.most_common_vals::text::text[] AS vals, s.most_common_freqs AS freqs
            FROM pg_class AS c
            LEFT JOIN pg_stats AS s
                   ON s.schemaname = current_schema() AND s.tablename = c.relname AND s.attname = 'state'
            WHERE c.oid = 'visibility_grant_jobs'::regclass
        )
        SELECT w.state, coalesce(st.total * st.freqs[array_position(st.vals, w.state)], 0)::float8
        FROM unnest($1::text[]) AS w (state), statistics AS st
        """

    /// One state, exactly: an index-only range scan of `visibility_grant_jobs_by_state_not_running_or_succeeded`,
    /// or for running jobs of `visibility_grant_jobs_running_leases` (succeeded jobs, which
    /// neither holds, are counted only while few).
    static let countState = "SELECT count(*)::bigint FROM visibility_grant_jobs WHERE state = $1"

    /// Jobs queued for later (waiting outside the claim index), up to `$1 + 1`.
    static let countScheduled = """
        SELECT count(*)::bigint FROM (
            SELECT 1 FROM visibility_grant_jobs WHERE scheduled AND state = 'pending' LIMIT $1::int + 1) AS later
        """

    /// The five shapes of `QueueStats.UnexplainedRows`, each through an index that
    /// holds only rows of its state and shape: running jobs (few), and the three
    /// partial indexes of sql/022.
    static let countUnexplainedRows = """
        SELECT (SELECT count(*) FROM visibility_grant_jobs
                WHERE state = 'running' AND (locked_by IS NULL OR locked_until IS NULL))::bigint,
               (SELECT count(*) FROM visibility_grant_jobs
                WHERE state = 'running' AND locked_until > now() + \(longestLeaseSQL))::bigint,
               (SELECT count(*) FROM visibility_grant_jobs
                WHERE state IN ('succeeded', 'failed', 'cancelled') AND finished_at IS NULL)::bigint,
               (SELECT count(*) FROM visibility_grant_jobs
                WHERE state IN ('pending', 'running') AND finished_at IS NOT NULL)::bigint,
               (SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded' AND attempts = 0)::bigint
        """

    /// Every state, zero included: counted where the statistics expect at most
    /// `exactCountLimit` rows, estimated (and named in the second value) above.
    func stateCounts(exactCountLimit: Int) throws -> (counts: [String: Int], estimated: Set<String>) {
        var counts: [String: Int] = [:]
        var estimated: Set<String> = []
        for row in try connection.query(Self.estimateByState, [QueueStats.states]) {
            let state = try row.decode(0, as: String.self)
            let estimate = try row.decode(1, as: Double.self)
            if estimate > Double(exactCountLimit) {
                counts[state] = Int(estimate.rounded())
                estimated.insert(state)
            } else {
                counts[state] = try connection.query(Self.countState, [state]).first?.decode(0, as: Int.self) ?? 0
            }
        }
        return (counts, estimated)
    }

    /// Jobs queued for later, counted up to `limit`; `atLeast` when there are more.
    func scheduledCount(limit: Int) throws -> (count: Int, atLeast: Bool) {
        let counted = try connection.query(Self.countScheduled, [limit]).first?.decode(0, as: Int.self) ?? 0
        return (min(counted, limit), counted > limit)
    }

    func unexplainedRows() throws -> QueueStats.UnexplainedRows {
        var rows = QueueStats.UnexplainedRows()
        if let row = try connection.query(Self.countUnexplainedRows).first { try rows.add(row, from: 0) }
        return rows
    }

    /// Every app with its signals (`AppSignals`), and the longest any due job has waited.
    func appsWithSignals() throws -> (apps: [GrantApp], oldestDueAgeSeconds: Double?) {
        var apps = try apps(unfinishedCountLimit: nil)
        let signals = Dictionary(try appSignals().map { ($0.app, $0) }, uniquingKeysWith: { first, _ in first })
        for index in apps.indices {
            if let found = signals[apps[index].name] { apps[index].apply(found) }
        }
        return (apps, signals.values.compactMap(\.oldestDueJobAgeSeconds).max())
    }
}
