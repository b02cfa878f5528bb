import Foundation
import GrantQueue
import Postgres

/// What the operator console reads, and how its bulk actions pick their jobs.
/// Each statement is shaped to use an index (or the table's statistics), so the
/// console answers in about the same time on a million rows as on a thousand
/// (BENCHMARKS.md, scenario L).
extension GrantQueue {
    /// Attempts that ended per minute, from the audit trail's finished_at index alone.
    static let consoleActivityByMinute = """
        SELECT floor(extract(epoch FROM now() - finished_at) / 60)::int,
               count(*) FILTER (WHERE outcome = 'succeeded')::bigint,
               count(*) FILTER (WHERE outcome = 'failed')::bigint,
               count(*) FILTER (WHERE outcome IN ('retry', 'lease_expired'))::bigint
        FROM visibility_grant_attempts
        WHERE finished_at > now() - make_interval(mins => $1::int)
        GROUP BY 1
        """

    /// The filter's parts ($1 state, $2 error code, $3 id, $4 idempotency key,
    /// $5 ordering key, $6 app). Statements run unnamed, so each is planned with its
    /// values: a part left NULL folds away and the rest pick their index.
    package static let consoleFilter = """
        ($1::text IS NULL OR state = $1::text)
          AND ($2::text IS NULL OR last_error_code = $2::text)
          AND ($3::bigint IS NULL OR id = $3::bigint)
          AND ($4::text IS NULL OR idempotency_key = $4::text)
          AND ($5::text IS NULL OR ordering_key = $5::text)
          AND ($6::text IS NULL OR app = $6::text)
        """

    static let consoleJobColumns = """
        id, state, attempts, max_attempts, opt_user_id, to_corp_ids, fields, idempotency_key, ordering_key,
        priority, run_at, locked_by, last_http_status, last_error_code, last_error_message, last_request_id,
        created_at, updated_at, finished_at
        """

    /// Newest first; `$7` is the last id of the previous page (keyset pagination:
    /// page 500 costs what page 1 costs).
    static let consoleListJobs = """
        SELECT \(consoleJobColumns)
        FROM visibility_grant_jobs
        WHERE \(consoleFilter)
          AND ($7::bigint IS NULL OR id < $7::bigint)
        ORDER BY id DESC
        LIMIT $8
        """

    static let consoleJob = "SELECT \(consoleJobColumns) FROM visibility_grant_jobs WHERE id = $1"

    static let consoleAttempts = """
        SELECT attempt, worker_id, started_at, finished_at, http_status, error_code, error_message, request_id, outcome
        FROM visibility_grant_attempts
        WHERE job_id = $1
        ORDER BY attempt, id
        """

    /// Jobs matching the filter that are in state `$7` (the state a bulk action acts on).
    static let consoleCountActionable = """
        SELECT count(*)::bigint FROM visibility_grant_jobs
        WHERE \(consoleFilter) AND state = $7::text
        """

    /// Everything on the console's overview page.
    /// States expected to hold more than `exactCountLimit` rows are not counted (at a
    /// million rows a count takes longer than the whole page should): their
    /// estimate is shown instead, marked as one. `throttleCodes`: the API's throttle
    /// codes, to count the jobs waiting on throttles (while pending jobs are counted exactly).
    public func consoleOverview(liveWithin: Duration = .seconds(60), exactCountLimit: Int = 100_000,
                                throttleCodes: [String] = []) throws -> ConsoleOverview {
        let (counts, estimated) = try stateCounts(exactCountLimit: exactCountLimit)
        let scheduled = try scheduledCount(limit: exactCountLimit)
        let (apps, oldest) = try appsWithSignals()
        var byMinute: [Int: QueueStats.Activity] = [:]
        for row in try connection.query(Self.consoleActivityByMinute, [ConsoleOverview.chartMinutes]) {
            byMinute[try row.decode(0)] = QueueStats.Activity(
                succeeded: try row.decode(1), failed: try row.decode(2), retried: try row.decode(3))
        }
        let minutes = (0..<ConsoleOverview.chartMinutes).reversed().map { ago in
            ConsoleOverview.Minute(minutesAgo: ago, activity: byMinute[ago] ?? QueueStats.Activity())
        }
        return ConsoleOverview(
            countsByState: counts, estimatedStates: estimated, scheduledPending: scheduled.count,
            scheduledPendingAtLeast: scheduled.atLeast, oldestDueAgeSeconds: oldest, minutes: minutes, apps: apps,
            errorCodes: try errorCodeCounts(), workers: try liveWorkers(liveWithin: liveWithin),
            throttledJobsByApp: estimated.contains("pending") ? nil : try throttledJobCounts(codes: throttleCodes),
            database: try horizon()
        )
    }

    /// One page of jobs, newest first, older than `before` when given.
    public func consoleJobs(_ filter: ConsoleJobFilter, before: Int64?, limit: Int) throws -> [ConsoleJob] {
        try connection.query(Self.consoleListJobs, filter.parameters + [before, limit]).map(Self.consoleJob(from:))
    }

    /// The job and its every attempt; `nil` when no job has that id.
    public func consoleJob(id: Int64) throws -> (job: ConsoleJob, attempts: [ConsoleAttempt])? {
        guard let row = try connection.query(Self.consoleJob, [id]).first else { return nil }
        let attempts = try connection.query(Self.consoleAttempts, [id]).map { row in
            ConsoleAttempt(
                attempt: try row.decode(0), workerID: try row.decode(1), startedAt: try row.decode(2),
                finishedAt: try row.decode(3), httpStatus: try row.decode(4), errorCode: try row.decode(5),
                errorMessage: try row.decode(6), requestID: try row.decode(7), outcome: try row.decode(8))
        }
        return (try Self.consoleJob(from: row), attempts)
    }

    /// How many jobs match the filter and are in `state`: what a bulk action would touch.
    public func consoleCount(_ filter: ConsoleJobFilter, inState state: String) throws -> Int {
        try connection.query(Self.consoleCountActionable, filter.parameters + [state]).first?.decode(0, as: Int.self) ?? 0
    }

    private static func consoleJob(from row: PostgresRow) throws -> ConsoleJob {
        ConsoleJob(
            id: try row.decode(0), state: try row.decode(1), attempts: try row.decode(2), maxAttempts: try row.decode(3),
            optUserID: try row.decode(4), toCorpIDs: try row.decode(5), fields: try row.decode(6),
            idempotencyKey: try row.decode(7), orderingKey: try row.decode(8), priority: try row.decode(9),
            runAt: try row.decode(10), lockedBy: try row.decode(11), lastHTTPStatus: try row.decode(12),
            lastErrorCode: try row.decode(13), lastErrorMessage: try row.decode(14), lastRequestID: try row.decode(15),
            createdAt: try row.decode(16), updatedAt: try row.decode(17), finishedAt: try row.decode(18))
    }
}
