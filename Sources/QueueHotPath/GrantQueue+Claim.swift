import Foundation
import GrantQueue
import Postgres

extension GrantQueue {
    /// Takes up to `$2` claimable jobs of app `$4` for worker `$1` with a lease of `$3` seconds.
    ///
    /// A claim starts after position (`$6` priority, `$7` run_at, `$8` id) in the
    /// claim index's order; `ClaimPosition.start` reads it from the start. Jobs
    /// not yet due are not in that index (`scheduled`, sql/019), except the few a
    /// stager moved in ahead of their run_at.
    ///
    /// Claims go one app at a time (the engine rotates across apps), each from the
    /// app's own slice of the claim index, so another app's backlog is never in the
    /// way. A paused app (`visibility_apps.paused_until` set) yields nothing, except
    /// to the worker holding its probe: the pause holds for the whole fleet here, in
    /// the database, without any worker calling the API.
    ///
    /// The row lock is taken in a CTE with LIMIT, so the planner cannot lock more
    /// rows than it returns; SKIP LOCKED lets concurrent claimers pass each other
    /// instead of queueing on the same rows. The order is the claim index's.
    ///
    /// A job with an `ordering_key` is claimable only when no older job with the
    /// same key is pending or running, so such jobs run one at a time, in id
    /// order, across all workers. The database keeps that in `ordering_blocked`
    /// (sql/014_ordering_heads.sql): only a key's head is unblocked, and the claim
    /// index leaves blocked jobs out, so a long backlog behind one key costs the
    /// claim nothing. Only a finished (succeeded, failed, cancelled) older job lets
    /// the next one go, in the same transaction that finishes it.
    ///
    /// The claim names the newest migration this build knows (`$5`) for its own
    /// transaction: sql/018_claim_fence.sql refuses claims from builds older than
    /// the schema's `oldest_worker_schema`, even ones that started before it was raised.
    static let claimBatch = PostgresStatement(
        name: "grant_jobs_claim",
        sql: """
            WITH worker_schema AS MATERIALIZED (
                SELECT set_config('visibility.worker_schema', $5, true)
            ),
            next AS (
                SELECT j.id
                FROM visibility_grant_jobs AS j
                WHERE j.app = $4 AND \(inClaimIndexSQL)
                  AND (-(j.priority::int), j.run_at, j.id) > (-($6::int), $7::timestamptz, $8::bigint)
                  AND j.run_at <= now()
                  AND EXISTS (SELECT 1 FROM visibility_apps AS a
                              WHERE a.name = $4 AND (a.paused_until IS NULL OR a.probe_by = $1))
                ORDER BY -(j.priority::int), j.run_at, j.id
                LIMIT $2
                FOR UPDATE SKIP LOCKED
            )
            UPDATE visibility_grant_jobs AS j
            SET state = 'running',
                locked_by = $1,
                locked_until = now() + make_interval(secs => $3::float8),
                attempts = j.attempts + 1,
                updated_at = now()
            FROM next, worker_schema
            WHERE j.id = next.id
            RETURNING j.id, j.to_corp_ids, j.opt_user_id, j.fields, j.attempts, j.max_attempts, j.locked_until, j.priority, j.app, j.run_at,
                      j.traceparent
            """
    )

    /// `claimBatch`'s parameters, in order.
    static func claimParameters(workerID: String, limit: Int, lease: Duration, app: String = GrantApp.defaultName,
                                after position: ClaimPosition = .start) -> [any PostgresEncodable] {
        [workerID, limit, lease.seconds, app, String(SchemaMigrator.requiredVersion),
         Int(position.priority), position.runAt, position.id]
    }

    /// Claims up to `limit` jobs for `workerID` that come after `position`, highest
    /// priority first, then oldest `run_at`, then lowest id; the batch comes back
    /// highest priority first, then by id (RETURNING keeps no order). Each claim
    /// counts as an attempt.
    public func claim(workerID: String, limit: Int, lease: Duration, app: String = GrantApp.defaultName,
                      after position: ClaimPosition = .start) throws -> [ClaimedGrantJob] {
        guard limit > 0 else { return [] }
        let rows = try connection.query(Self.claimBatch, Self.claimParameters(workerID: workerID, limit: limit, lease: lease, app: app, after: position))
        return try rows.map { row in
            ClaimedGrantJob(
                id: try row.decode(0),
                toCorpIds: try row.decode(1),
                optUserId: try row.decode(2),
                fields: try row.decode(3),
                attempt: try row.decode(4),
                maxAttempts: try row.decode(5),
                lockedUntil: try row.decode(6),
                priority: try row.decode(7),
                app: try row.decode(8),
                runAt: try row.decode(9),
                traceparent: try row.decode(10)
            )
        }.sorted { $0.priority != $1.priority ? $0.priority > $1.priority : $0.id < $1.id }
    }
}
