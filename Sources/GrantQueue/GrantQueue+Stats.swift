import Foundation
import Postgres

extension GrantQueue {
    static let countByState = """
        SELECT state, count(*)::bigint,
               count(*) FILTER (WHERE state = 'pending' AND run_at > now())::bigint,
               extract(epoch FROM now() - min(run_at) FILTER (WHERE state = 'pending' AND run_at <= now()))::float8
        FROM visibility_grant_jobs
        GROUP BY state
        """

    static let countErrorCodes = """
        SELECT last_error_code, state, count(*)::bigint
        FROM visibility_grant_jobs
        WHERE last_error_code IS NOT NULL AND state IN ('pending', 'running', 'failed')
        GROUP BY last_error_code, state
        ORDER BY count(*) DESC, last_error_code, state
        """

    static let listLiveWorkers = """
        SELECT id, host, pid, started_at, extract(epoch FROM now() - heartbeat_at)::float8, in_flight,
               pause_reason, paused_until
        FROM visibility_workers
        WHERE heartbeat_at > now() - make_interval(secs => $1::float8)
        ORDER BY host, pid, id
        """

    /// Reads counts, the oldest due job's age, error codes and live workers.
    /// `liveWithin`: a worker counts as live if its heartbeat is this recent.
    public func stats(liveWithin: Duration = .seconds(60)) throws -> QueueStats {
        var counts = Dictionary(uniqueKeysWithValues: QueueStats.states.map { ($0, 0) })
        var scheduled = 0
        var oldest: Double?
        for row in try connection.query(Self.countByState) {
            counts[try row.decode(0, as: String.self)] = try row.decode(1, as: Int.self)
            scheduled += try row.decode(2, as: Int.self)
            if let age = try row.decode(3, as: Double?.self) { oldest = max(oldest ?? age, age) }
        }
        let codes = try connection.query(Self.countErrorCodes).map { row in
            QueueStats.ErrorCodeCount(code: try row.decode(0), state: try row.decode(1), count: try row.decode(2))
        }
        let workers = try connection.query(Self.listLiveWorkers, [liveWithin.seconds]).map { row in
            QueueStats.Worker(
                id: try row.decode(0), host: try row.decode(1), pid: try row.decode(2),
                startedAt: try row.decode(3), heartbeatAgeSeconds: try row.decode(4), inFlight: try row.decode(5),
                pauseReason: try row.decode(6), pausedUntil: try row.decode(7)
            )
        }
        return QueueStats(
            countsByState: counts, scheduledPending: scheduled, oldestPendingAgeSeconds: oldest,
            errorCodes: codes, workers: workers
        )
    }
}
