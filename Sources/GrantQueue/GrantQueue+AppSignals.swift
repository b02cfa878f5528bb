import Foundation
import Postgres

/// Each app's backlog signals (`AppSignals`), read at a cost that does not grow
/// with the backlog: every part reads a bounded stretch of an index of live work.
extension GrantQueue {
    /// Per app of `visibility_apps`: its cap and pause; its due jobs, counted through
    /// the claim index up to `$1 + 1` (so "more than $1" is known without counting
    /// more); the oldest due job, as the first due entry of each priority present
    /// (one index probe per priority, found by a skip scan, since the index orders
    /// by priority first); and the last outcome any worker live within `$2` seconds
    /// reported for the app with its heartbeat (sql/021).
    static let readAppSignals = PostgresStatement(
        name: "apps_read_signals",
        sql: """
            SELECT a.name, a.global_qps, a.paused_until IS NOT NULL,
                   (SELECT count(*) FROM (
                        SELECT 1 FROM visibility_grant_jobs AS j
                        WHERE j.app = a.name AND \(inClaimIndexSQL)
                          AND j.run_at <= now()
                        LIMIT $1::int + 1) AS due)::bigint,
                   (WITH RECURSIVE levels (rank) AS (
                        (SELECT -(j.priority::int) FROM visibility_grant_jobs AS j
                         WHERE j.app = a.name AND \(inClaimIndexSQL)
                         ORDER BY -(j.priority::int) LIMIT 1)
                        UNION ALL
                        SELECT (SELECT -(j.priority::int) FROM visibility_grant_jobs AS j
                                WHERE j.app = a.name AND \(inClaimIndexSQL)
                                  AND -(j.priority::int) > levels.rank
                                ORDER BY -(j.priority::int) LIMIT 1)
                        FROM levels WHERE levels.rank IS NOT NULL
                    )
                    SELECT extract(epoch FROM now() - min(
                        (SELECT j.run_at FROM visibility_grant_jobs AS j
                         WHERE j.app = a.name AND \(inClaimIndexSQL)
                           AND -(j.priority::int) = levels.rank
                         ORDER BY j.run_at LIMIT 1)))::float8
                    FROM levels
                    WHERE levels.rank IS NOT NULL),
                   (SELECT extract(epoch FROM now() - to_timestamp(max((w.last_outcome_by_app ->> a.name)::float8)))::float8
                    FROM visibility_workers AS w
                    WHERE w.heartbeat_at > now() - make_interval(secs => $2::float8))
            FROM visibility_apps AS a
            ORDER BY a.name
            """
    )

    /// Every app's signals. `defaultCap`: the cap of apps without a `global_qps` of
    /// their own (a worker's `--global-qps`); `observedRate`: for an app with no cap
    /// at all, the rate a worker allows itself now (nil: unknown, as for `status`).
    public func appSignals(_ options: AppSignals.Options = AppSignals.Options(), defaultCap: Double? = nil,
                           observedRate: (String) -> Double? = { _ in nil }) throws -> [AppSignals] {
        try connection.query(Self.readAppSignals, [options.countLimit, options.liveWithin.seconds]).map { row in
            let name: String = try row.decode(0)
            let due: Int = try row.decode(3)
            var oldest: Double? = try row.decode(4)
            // A staged job is in the claim index up to a few seconds before it falls due.
            if let age = oldest, age < 0 { oldest = nil }
            return AppSignals(
                app: name, dueJobs: min(due, options.countLimit), dueJobsAtLeast: due > options.countLimit,
                oldestDueJobAgeSeconds: due == 0 ? nil : oldest,
                allowedCallsPerSecond: try row.decode(1, as: Double?.self) ?? defaultCap ?? observedRate(name),
                secondsSinceLastOutcome: try row.decode(5), paused: try row.decode(2), stallAfter: options.stallAfter)
        }
    }
}
