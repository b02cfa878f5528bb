import Foundation
import GrantQueue
import Postgres

extension GrantQueue {
    static let insertOne = PostgresStatement(
        name: "grant_jobs_insert_one",
        sql: """
            INSERT INTO visibility_grant_jobs
                (to_corp_ids, opt_user_id, fields, idempotency_key, ordering_key, priority, run_at, max_attempts, app,
                 traceparent)
            VALUES ($1::text[], $2, $3::text[], $4, $5, $6, coalesce($7::timestamptz, now()), $8, $9, $10)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id
            """
    )

    static let findByIdempotencyKey = PostgresStatement(
        name: "grant_jobs_find_by_idempotency_key",
        sql: "SELECT id FROM visibility_grant_jobs WHERE idempotency_key = $1"
    )

    /// Inserts one job; with an idempotency key that is already taken, inserts
    /// nothing and returns the existing job's id.
    public func enqueue(_ job: NewGrantJob) throws -> EnqueueResult {
        let rows = try connection.query(Self.insertOne, [
            job.toCorpIds, job.optUserId, job.fields, job.idempotencyKey, job.orderingKey,
            job.priority, job.runAt, job.maxAttempts, job.app, job.traceparent,
        ])
        if let row = rows.first {
            return .inserted(id: try row.decode(0, as: Int64.self))
        }
        guard let key = job.idempotencyKey,
            let existing = try connection.query(Self.findByIdempotencyKey, [key]).first
        else {
            // The conflicting row was deleted between the two statements, or belongs to an
            // app this login is not confined to (idempotency keys are one namespace for all apps).
            throw PostgresError(kind: .client, message:
                "idempotency key conflict, but no job this login may read holds the key (deleted since, or another app's)")
        }
        return .duplicate(existingID: try existing.decode(0, as: Int64.self))
    }
}
