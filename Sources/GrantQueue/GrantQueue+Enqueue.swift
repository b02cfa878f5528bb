import Foundation
import Postgres

extension GrantQueue {
    static let insertOne = PostgresStatement(
        name: "grant_jobs_insert_one",
        sql: """
            INSERT INTO visibility_grant_jobs
                (to_corp_ids, opt_user_id, fields, idempotency_key, ordering_key, priority, run_at, max_attempts)
            VALUES ($1::text[], $2, $3::text[], $4, $5, $6, coalesce($7::timestamptz, now()), $8)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id
            """
    )

    static let findByIdempotencyKey = PostgresStatement(
        name: "grant_jobs_find_by_idempotency_key",
        sql: "SELECT id FROM visibility_grant_jobs WHERE idempotency_key = $1"
    )

    /// Staging table for bulk loads: COPY cannot say ON CONFLICT, so rows land
    /// here first and one INSERT … SELECT moves them (one statement, one NOTIFY).
    static let createStagingTable = """
        CREATE TEMP TABLE visibility_grant_jobs_incoming (
            line int, to_corp_ids text[], opt_user_id text, fields text[], idempotency_key text,
            ordering_key text, priority smallint, run_at timestamptz, max_attempts int
        ) ON COMMIT DROP
        """

    static let copyIntoStaging = """
        COPY visibility_grant_jobs_incoming
            (line, to_corp_ids, opt_user_id, fields, idempotency_key, ordering_key, priority, run_at, max_attempts)
        FROM STDIN
        """

    static let moveFromStaging = """
        INSERT INTO visibility_grant_jobs
            (to_corp_ids, opt_user_id, fields, idempotency_key, ordering_key, priority, run_at, max_attempts)
        SELECT to_corp_ids, opt_user_id, fields, idempotency_key, ordering_key, priority,
               coalesce(run_at, now()), max_attempts
        FROM visibility_grant_jobs_incoming
        ORDER BY line
        ON CONFLICT (idempotency_key) DO NOTHING
        """

    /// Inserts one job; with an idempotency key that is already taken, inserts
    /// nothing and returns the existing job's id.
    public func enqueue(_ job: NewGrantJob) throws -> EnqueueResult {
        let rows = try connection.query(Self.insertOne, [
            job.toCorpIds, job.optUserId, job.fields, job.idempotencyKey, job.orderingKey,
            job.priority, job.runAt, job.maxAttempts,
        ])
        if let row = rows.first {
            return .inserted(id: try row.decode(0, as: Int64.self))
        }
        guard let key = job.idempotencyKey,
            let existing = try connection.query(Self.findByIdempotencyKey, [key]).first
        else {
            // The conflicting row was deleted between the two statements; unlikely, so say so plainly.
            throw PostgresError(kind: .client, message: "idempotency key conflict, but no job holds the key any more")
        }
        return .duplicate(existingID: try existing.decode(0, as: Int64.self))
    }

    /// Inserts many jobs in one transaction through COPY: all of them or, on any
    /// error, none. Rows whose idempotency key is taken (in the table or earlier
    /// in `jobs`) are skipped. `progress` hears how many rows were sent so far,
    /// every few thousand rows.
    public func enqueue(contentsOf jobs: [NewGrantJob], progress: (Int) -> Void = { _ in }) throws -> BulkEnqueueResult {
        try withoutActuallyEscaping(progress) { progress in try connection.transaction { connection in
            try connection.query(Self.createStagingTable)
            let rows = jobs.lazy.enumerated().map { index, job -> [String?] in
                if index % 5000 == 0 { progress(index) }
                return [
                    String(index), job.toCorpIds.postgresText, job.optUserId, job.fields.postgresText,
                    job.idempotencyKey, job.orderingKey, String(job.priority), job.runAt?.postgresText,
                    String(job.maxAttempts),
                ]
            }
            try connection.copyFrom(Self.copyIntoStaging, rows: rows)
            progress(jobs.count)
            let inserted = try connection.query(Self.moveFromStaging).affectedRows
            return BulkEnqueueResult(submitted: jobs.count, inserted: inserted)
        } }
    }
}
