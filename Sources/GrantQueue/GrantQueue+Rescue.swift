import Foundation
import Postgres

extension GrantQueue {
    /// Takes back up to `$1` jobs whose lease ran out (their worker died or hung):
    /// each goes back to `pending` (or `failed` once `max_attempts` is used up), and
    /// the lost attempt is recorded as `lease_expired`. Any worker may run this;
    /// SKIP LOCKED keeps two rescuers off the same rows.
    static let rescueExpiredLeases = PostgresStatement(
        name: "grant_jobs_rescue_expired",
        sql: """
            WITH expired AS (
                SELECT id, locked_by, locked_until
                FROM visibility_grant_jobs
                WHERE state = 'running' AND locked_until < now()
                ORDER BY locked_until
                LIMIT $1
                FOR UPDATE SKIP LOCKED
            ),
            rescued AS (
                UPDATE visibility_grant_jobs AS j
                SET state = CASE WHEN j.attempts >= j.max_attempts THEN 'failed' ELSE 'pending' END,
                    locked_by = NULL,
                    locked_until = NULL,
                    run_at = now(),
                    last_http_status = NULL,
                    last_error_code = 'lease.expired',
                    last_error_message = 'worker ' || e.locked_by || ' stopped renewing its lease',
                    last_request_id = NULL,
                    updated_at = now(),
                    finished_at = CASE WHEN j.attempts >= j.max_attempts THEN now() END
                FROM expired AS e
                WHERE j.id = e.id
                RETURNING j.id, j.attempts, j.state, e.locked_by, e.locked_until, j.last_error_code, j.last_error_message
            ),
            audit AS (
                INSERT INTO visibility_grant_attempts (job_id, attempt, worker_id, started_at, error_code, error_message, outcome)
                SELECT id, attempts, locked_by, locked_until, last_error_code, last_error_message, 'lease_expired'
                FROM rescued
            )
            SELECT id, state FROM rescued
            """
    )

    /// Returns the jobs taken back.
    @discardableResult
    public func rescueExpiredLeases(limit: Int = 1000) throws -> [CompletedGrantJob] {
        try connection.query(Self.rescueExpiredLeases, [limit]).map {
            CompletedGrantJob(id: try $0.decode(0), state: try $0.decode(1))
        }
    }
}
