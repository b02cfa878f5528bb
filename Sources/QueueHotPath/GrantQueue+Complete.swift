import Foundation
import GrantQueue
import Postgres

extension GrantQueue {
    /// Writes a batch of outcomes for worker `$1` in one round trip: the job rows
    /// and, for attempts that reached the API, their audit rows. The `last_*`
    /// columns take any outcome that carries a status or code (a release because
    /// DingTalk was unreachable still shows why).
    ///
    /// Fenced: a row changes only if it is still `running`, leased to this worker,
    /// at the attempt the outcome carries. A worker whose lease expired and was
    /// taken over therefore changes nothing, and writes no audit row.
    static let completeBatch = PostgresStatement(
        name: "grant_jobs_complete",
        sql: """
            WITH outcome AS (
                SELECT *, (http_status IS NOT NULL OR error_code IS NOT NULL) AS has_result
                FROM unnest($2::bigint[], $3::int[], $4::text[], $5::timestamptz[], $6::timestamptz[],
                            $7::bool[], $8::int[], $9::text[], $10::text[], $11::text[])
                    AS o(job_id, attempt, outcome, run_at, started_at,
                         reached_api, http_status, error_code, error_message, request_id)
            ),
            updated AS (
                UPDATE visibility_grant_jobs AS j
                SET state = CASE
                        WHEN o.outcome IN ('succeeded', 'failed') THEN o.outcome
                        WHEN o.outcome = 'retry' AND j.attempts >= j.max_attempts THEN 'failed'
                        ELSE 'pending'
                    END,
                    attempts = CASE WHEN o.outcome = 'released' THEN j.attempts - 1 ELSE j.attempts END,
                    run_at = coalesce(o.run_at, j.run_at),
                    locked_by = NULL,
                    locked_until = NULL,
                    last_http_status = CASE WHEN o.has_result THEN o.http_status ELSE j.last_http_status END,
                    last_error_code = CASE WHEN o.has_result THEN o.error_code ELSE j.last_error_code END,
                    last_error_message = CASE WHEN o.has_result THEN o.error_message ELSE j.last_error_message END,
                    last_request_id = CASE WHEN o.has_result THEN o.request_id ELSE j.last_request_id END,
                    updated_at = now(),
                    finished_at = CASE
                        WHEN o.outcome IN ('succeeded', 'failed')
                          OR (o.outcome = 'retry' AND j.attempts >= j.max_attempts) THEN now()
                    END
                FROM outcome AS o
                WHERE j.id = o.job_id
                  -- Written so it does not match the running-leases partial index: its statistics
                  -- say "almost empty", and a generic plan driven from it rescans the whole batch
                  -- for every running row (quadratic). This way each outcome finds its row by id.
                  AND (j.state = 'running') IS TRUE
                  AND j.locked_by = $1
                  AND j.attempts = o.attempt
                RETURNING j.id, j.state, o.attempt, o.outcome, o.started_at, o.reached_api,
                          o.http_status, o.error_code, o.error_message, o.request_id
            ),
            audit AS (
                -- Fed by the UPDATE's own RETURNING: no second join over the batch.
                INSERT INTO visibility_grant_attempts
                    (job_id, attempt, worker_id, started_at, http_status, error_code, error_message, request_id, outcome)
                SELECT id, attempt, $1, started_at, http_status, error_code, error_message, request_id,
                       CASE WHEN outcome = 'retry' AND state = 'failed' THEN 'failed' ELSE outcome END
                FROM updated
                WHERE reached_api
            )
            SELECT id, state FROM updated
            """
    )

    /// Records outcomes and returns the rows actually changed; an outcome missing
    /// from the result was fenced off (the lease is no longer this worker's).
    @discardableResult
    public func complete(_ outcomes: [GrantJobOutcome], workerID: String) throws -> [CompletedGrantJob] {
        guard !outcomes.isEmpty else { return [] }
        let rows = try connection.query(Self.completeBatch, [
            workerID,
            outcomes.map(\.jobID),
            outcomes.map(\.attempt),
            outcomes.map(\.disposition.columnValue),
            outcomes.map(\.disposition.runAt),
            outcomes.map(\.startedAt),
            outcomes.map(\.reachedAPI),
            outcomes.map(\.httpStatus),
            outcomes.map(\.errorCode),
            outcomes.map(\.errorMessage),
            outcomes.map(\.requestID),
        ])
        return try rows.map { CompletedGrantJob(id: try $0.decode(0), state: try $0.decode(1)) }
    }
}
