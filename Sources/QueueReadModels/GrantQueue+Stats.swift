import Foundation
import GrantQueue
import Postgres

extension GrantQueue {
    /// Through `visibility_grant_jobs_by_error_code` (it includes the state): rows with a code only.
    static let countErrorCodes = """
        SELECT last_error_code, state, count(*)::bigint
        FROM visibility_grant_jobs
        WHERE last_error_code IS NOT NULL AND state IN ('pending', 'running', 'failed')
        GROUP BY last_error_code, state
        ORDER BY count(*) DESC, last_error_code, state
        """

    /// Over the last hour, so the index on finished_at keeps it cheap on a long audit trail.
    static let recentActivity = """
        SELECT count(*) FILTER (WHERE outcome = 'succeeded' AND finished_at > now() - interval '1 minute')::bigint,
               count(*) FILTER (WHERE outcome = 'failed' AND finished_at > now() - interval '1 minute')::bigint,
               count(*) FILTER (WHERE outcome IN ('retry', 'lease_expired') AND finished_at > now() - interval '1 minute')::bigint,
               count(*) FILTER (WHERE outcome = 'succeeded')::bigint,
               count(*) FILTER (WHERE outcome = 'failed')::bigint,
               count(*) FILTER (WHERE outcome IN ('retry', 'lease_expired'))::bigint
        FROM visibility_grant_attempts
        WHERE finished_at > now() - interval '1 hour'
        """

    static let listLiveWorkers = """
        SELECT id, host, pid, started_at, extract(epoch FROM now() - heartbeat_at)::float8, in_flight,
               pause_reason, paused_until, paused_since, version, apps_without_secret
        FROM visibility_workers
        WHERE heartbeat_at > now() - make_interval(secs => $1::float8)
        ORDER BY host, pid, id
        """

    /// Reads counts, each app's signals, error codes and live workers, at a cost
    /// that does not grow with the table (`GrantQueue+Counts.swift`): a state
    /// expected to hold more than `exactCountLimit` rows is estimated, and jobs
    /// queued for later and each app's unfinished jobs are counted up to it.
    /// `liveWithin`: a worker counts as live if its heartbeat is this recent;
    /// `throttleCodes`: the API's throttle codes, to count jobs waiting on throttles.
    public func stats(liveWithin: Duration = .seconds(60), throttleCodes: [String] = [],
                      exactCountLimit: Int = 100_000) throws -> QueueStats {
        let (counts, estimated) = try stateCounts(exactCountLimit: exactCountLimit)
        let scheduled = try scheduledCount(limit: exactCountLimit)
        let (apps, oldest) = try appsWithSignals()
        var lastMinute = QueueStats.Activity()
        var lastHour = QueueStats.Activity()
        if let row = try connection.query(Self.recentActivity).first {
            lastMinute = QueueStats.Activity(succeeded: try row.decode(0), failed: try row.decode(1), retried: try row.decode(2))
            lastHour = QueueStats.Activity(succeeded: try row.decode(3), failed: try row.decode(4), retried: try row.decode(5))
        }
        var stats = QueueStats(
            countsByState: counts, scheduledPending: scheduled.count, oldestPendingAgeSeconds: oldest,
            lastMinute: lastMinute, lastHour: lastHour, errorCodes: try errorCodeCounts(),
            workers: try liveWorkers(liveWithin: liveWithin), unexplainedRows: try unexplainedRows(), apps: apps,
            throttledJobsByApp: try throttledJobCounts(codes: throttleCodes), database: try horizon()
        )
        stats.estimatedStates = estimated
        stats.scheduledPendingAtLeast = scheduled.atLeast
        return stats
    }

    /// `last_error_code` of unfinished and failed jobs, by state, most frequent first.
    func errorCodeCounts() throws -> [QueueStats.ErrorCodeCount] {
        try connection.query(Self.countErrorCodes).map { row in
            QueueStats.ErrorCodeCount(code: try row.decode(0), state: try row.decode(1), count: try row.decode(2))
        }
    }

    /// Workers whose heartbeat is more recent than `liveWithin`.
    func liveWorkers(liveWithin: Duration) throws -> [QueueStats.Worker] {
        try connection.query(Self.listLiveWorkers, [liveWithin.seconds]).map { row in
            QueueStats.Worker(
                id: try row.decode(0), host: try row.decode(1), pid: try row.decode(2),
                startedAt: try row.decode(3), heartbeatAgeSeconds: try row.decode(4), inFlight: try row.decode(5),
                pauseReason: try row.decode(6), pausedUntil: try row.decode(7), pausedSince: try row.decode(8),
                version: try row.decode(9),
                appsWithoutSecret: try row.decode(10, as: [String]?.self) ?? []
            )
        }
    }
}
