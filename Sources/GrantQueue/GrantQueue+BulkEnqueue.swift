import Foundation
import Postgres

extension GrantQueue {
    /// Staging table for bulk loads: COPY cannot say ON CONFLICT, so rows land
    /// here first and one INSERT … SELECT moves them (one statement, one NOTIFY).
    static let createStagingTable = """
        CREATE TEMP TABLE visibility_grant_jobs_incoming (
            line int, to_corp_ids text[], opt_user_id text, fields text[], idempotency_key text,
            ordering_key text, priority smallint, run_at timestamptz, max_attempts int, app text
        ) ON COMMIT DROP
        """

    /// Room for the sort and hash below, for this transaction only (so also behind a transaction pooler).
    static let bulkWorkMemory = "SET LOCAL work_mem = '64MB'"

    static let copyIntoStaging = """
        COPY visibility_grant_jobs_incoming
            (line, to_corp_ids, opt_user_id, fields, idempotency_key, ordering_key, priority, run_at, max_attempts, app)
        FROM STDIN
        """

    /// Lines whose idempotency key an earlier line used, the first `$1` of them, with
    /// how many there are in all. The hash over the keys finds the few repeated ones;
    /// only their rows are then sorted.
    static let findRepeatedKeys = """
        WITH repeated AS (
            SELECT idempotency_key FROM visibility_grant_jobs_incoming
            WHERE idempotency_key IS NOT NULL
            GROUP BY idempotency_key HAVING count(*) > 1
        ),
        numbered AS (
            SELECT i.line, min(i.line) OVER (PARTITION BY i.idempotency_key) AS first_line
            FROM visibility_grant_jobs_incoming AS i JOIN repeated USING (idempotency_key)
        )
        SELECT line, first_line, count(*) OVER () FROM numbered WHERE line <> first_line ORDER BY line LIMIT $1
        """

    /// Lines naming an app `visibility_apps` does not have, the first `$1` of them,
    /// with how many there are in all: reported by line, as a bad value is, rather
    /// than as one foreign key error for the whole file.
    static let findUnknownApps = """
        SELECT i.line, i.app, count(*) OVER ()
        FROM visibility_grant_jobs_incoming AS i
        WHERE NOT EXISTS (SELECT 1 FROM visibility_apps AS a WHERE a.name = i.app)
        ORDER BY i.line
        LIMIT $1
        """

    static let moveFromStaging = """
        INSERT INTO visibility_grant_jobs
            (to_corp_ids, opt_user_id, fields, idempotency_key, ordering_key, priority, run_at, max_attempts, app)
        SELECT to_corp_ids, opt_user_id, fields, idempotency_key, ordering_key, priority,
               coalesce(run_at, now()), max_attempts, app
        FROM visibility_grant_jobs_incoming
        ORDER BY line
        ON CONFLICT (idempotency_key) DO NOTHING
        """

    /// Streams a jobs file into the table in one transaction, in constant memory:
    /// every line is read once, checked, and sent through COPY as it comes. If any
    /// line is bad, nothing is inserted and `GrantJobFile.InvalidFile` lists the
    /// first `maxErrors` bad lines and their count. Rows whose idempotency key is
    /// taken (in the table, or by an earlier line) are skipped; the result names
    /// the lines that repeated a key of the same file. `progress` hears the rows and
    /// bytes read so far, every few thousand rows.
    public func enqueue(from reader: GrantJobFile.Reader, maxErrors: Int = 100,
                        progress: (_ rows: Int, _ bytes: Int) -> Void = { _, _ in }) throws -> BulkEnqueueResult {
        try bulkEnqueue(maxErrors: maxErrors, next: reader.next) { progress($0, reader.bytesRead) }
    }

    /// Inserts many jobs in one transaction through COPY: all of them or, on any
    /// error, none. Rows whose idempotency key is taken (in the table or earlier
    /// in `jobs`) are skipped. `progress` hears how many rows were sent so far.
    public func enqueue(contentsOf jobs: [NewGrantJob], progress: (Int) -> Void = { _ in }) throws -> BulkEnqueueResult {
        var remaining = jobs.enumerated().makeIterator()
        return try bulkEnqueue(maxErrors: 100, next: {
            remaining.next().map { GrantJobFile.Entry(line: $0.offset + 1, .success($0.element)) }
        }, progress: progress)
    }

    private func bulkEnqueue(maxErrors: Int, next: () throws -> GrantJobFile.Entry?,
                             progress: (Int) -> Void) throws -> BulkEnqueueResult {
        try withoutActuallyEscaping(next) { next in try withoutActuallyEscaping(progress) { progress in
            try connection.transaction { connection in
                try connection.query(Self.bulkWorkMemory)
                try connection.query(Self.createStagingTable)
                var submitted = 0
                var errors: [GrantJobFile.LineError] = []
                var badLines = 0
                var readFailure: (any Error)?
                progress(0)
                // COPY pulls the rows as it sends them; bad lines are noted and left out.
                let rows = AnyIterator<[String?]> {
                    while readFailure == nil {
                        let entry: GrantJobFile.Entry?
                        do { entry = try next() } catch { readFailure = error; return nil }
                        switch entry {
                        case nil:
                            return nil
                        case .bad(let error)?:
                            badLines += 1
                            if errors.count < maxErrors { errors.append(error) }
                        case .job(let line, let job)?:
                            submitted += 1
                            if submitted % 5000 == 0 { progress(submitted) }
                            return Self.stagingRow(line: line, job)
                        }
                    }
                    return nil
                }
                try connection.copyFrom(Self.copyIntoStaging, rows: IteratorSequence(rows))
                if let readFailure { throw readFailure }
                progress(submitted)
                if badLines > 0 { throw GrantJobFile.InvalidFile(errors: errors, badLineCount: badLines) }
                try Self.refuseUnknownApps(connection, maxErrors: maxErrors)
                var result = BulkEnqueueResult(submitted: submitted, inserted: 0)
                for row in try connection.query(Self.findRepeatedKeys, [maxErrors]) {
                    result.repeatedKeys.append(RepeatedKey(line: try row.decode(0), firstLine: try row.decode(1)))
                    result.repeatedKeyCount = try row.decode(2)
                }
                result.inserted = try connection.query(Self.moveFromStaging).affectedRows
                return result
            }
        } }
    }

    private static func refuseUnknownApps(_ connection: PostgresConnection, maxErrors: Int) throws {
        var errors: [GrantJobFile.LineError] = []
        var count = 0
        for row in try connection.query(findUnknownApps, [maxErrors]) {
            let app: String = try row.decode(1)
            errors.append(GrantJobFile.LineError(
                line: try row.decode(0),
                message: "app \"\(app)\" is not in visibility_apps (add it with `visibility-worker apps add`) [app_must_name_a_row_of_visibility_apps]"))
            count = try row.decode(2)
        }
        if count > 0 { throw GrantJobFile.InvalidFile(errors: errors, badLineCount: count) }
    }

    /// One row of the staging table in COPY's column order.
    static func stagingRow(line: Int, _ job: NewGrantJob) -> [String?] {
        [
            String(line), job.toCorpIds.postgresText, job.optUserId, job.fields.postgresText, job.idempotencyKey,
            job.orderingKey, String(job.priority), job.runAt?.postgresText, String(job.maxAttempts), job.app,
        ]
    }
}
