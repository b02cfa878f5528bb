import Foundation
import GrantQueue
import Postgres

extension GrantQueue {
    /// Takes back up to `$1` jobs whose lease ran out (their worker died or hung),
    /// or whose lease ends more than `longestLease` from now (no worker holds it, and
    /// it would block the job for that long): each goes back to `pending` (or
    /// `failed` once `max_attempts` is used up), and the lost attempt is recorded as
    /// `lease_expired`, its error code saying which of the two it was. Any worker
    /// may run this; SKIP LOCKED keeps two rescuers off the same rows.
    ///
    /// `$2`: how many seconds back to look for leases that ran out (NULL: all the
    /// way). Each range is a range of `visibility_grant_jobs_running_leases`, whose
    /// front holds the running version of every job run since the horizon was last
    /// free (a pinned horizon keeps them all): a pass that looks only as far back
    /// as the last one steps over none of them (`RescueWindow`).
    static let rescueExpiredLeases = PostgresStatement(
        name: "grant_jobs_rescue_expired",
        sql: """
            WITH lapsed AS (
                SELECT id, locked_by, locked_until, false AS implausible
                FROM visibility_grant_jobs
                WHERE state = 'running' AND locked_until < now()
                  AND locked_until >= now() - make_interval(secs => coalesce($2::float8, 3.2e9))
                ORDER BY locked_until
                LIMIT $1
                FOR UPDATE SKIP LOCKED
            ),
            too_long AS (
                SELECT id, locked_by, locked_until, true AS implausible
                FROM visibility_grant_jobs
                WHERE state = 'running' AND locked_until > now() + \(longestLeaseSQL)
                ORDER BY locked_until
                LIMIT $1
                FOR UPDATE SKIP LOCKED
            ),
            expired AS (
                SELECT * FROM lapsed UNION ALL SELECT * FROM too_long
            ),
            rescued AS (
                UPDATE visibility_grant_jobs AS j
                SET state = CASE WHEN j.attempts >= j.max_attempts THEN 'failed' ELSE 'pending' END,
                    locked_by = NULL,
                    locked_until = NULL,
                    run_at = now(),
                    last_http_status = NULL,
                    last_error_code = CASE WHEN e.implausible THEN 'lease.implausible' ELSE 'lease.expired' END,
                    last_error_message = CASE
                        WHEN e.implausible THEN 'lease held by ' || coalesce(e.locked_by, 'no one') || ' until '
                            || e.locked_until || ', more than ' || \(Int(longestLease.seconds / 60))
                            || ' minutes ahead: longer than any worker holds one'
                        ELSE 'worker ' || e.locked_by || ' stopped renewing its lease' END,
                    last_request_id = NULL,
                    updated_at = now(),
                    finished_at = CASE WHEN j.attempts >= j.max_attempts THEN now() END
                FROM expired AS e
                WHERE j.id = e.id
                RETURNING j.id, j.attempts, j.state, e.locked_by, least(e.locked_until, now()) AS started_at,
                          j.last_error_code, j.last_error_message
            ),
            audit AS (
                INSERT INTO visibility_grant_attempts (job_id, attempt, worker_id, started_at, error_code, error_message, outcome)
                SELECT id, attempts, coalesce(locked_by, 'unknown'), started_at, last_error_code, last_error_message, 'lease_expired'
                FROM rescued
            )
            SELECT id, state FROM rescued
            """
    )

    /// Most jobs one rescue pass takes back.
    public static let rescueBatch = 1000

    /// Returns the jobs taken back. `lookBack`: only leases that ran out this long
    /// ago or less (nil: any), and leases too long to be real.
    @discardableResult
    public func rescueExpiredLeases(limit: Int = rescueBatch, lookBack: Duration? = nil) throws -> [CompletedGrantJob] {
        try connection.query(Self.rescueExpiredLeases, [limit, lookBack?.seconds]).map {
            CompletedGrantJob(id: try $0.decode(0), state: try $0.decode(1))
        }
    }
}
