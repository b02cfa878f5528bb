import Foundation
import GrantQueue
import Postgres

extension GrantQueue {
    /// Staging for bulk loads, one chunk at a time: COPY cannot say ON CONFLICT,
    /// so a chunk lands here first and one INSERT … SELECT moves it.
    static let createStagingTable = """
        CREATE TEMP TABLE visibility_grant_jobs_incoming (
            line int, to_corp_ids text[], opt_user_id text, fields text[], idempotency_key text,
            ordering_key text, priority smallint, run_at timestamptz, max_attempts int, app text, traceparent text
        ) ON COMMIT DROP
        """

    /// Every staged line's idempotency key, to name the lines that repeat an
    /// earlier line's key once the whole input is in.
    static let createStagedKeysTable = """
        CREATE TEMP TABLE visibility_grant_jobs_incoming_keys (line int, idempotency_key text) ON COMMIT DROP
        """

    /// Room for the sort and hash below, for this transaction only (so also behind a transaction pooler).
    static let bulkWorkMemory = "SET LOCAL work_mem = '64MB'"

    static let copyIntoStaging = """
        COPY visibility_grant_jobs_incoming
            (line, to_corp_ids, opt_user_id, fields, idempotency_key, ordering_key, priority, run_at, max_attempts, app,
             traceparent)
        FROM STDIN
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

    /// The staged chunk into the table, in line order (ids follow the input, which
    /// ordering keys rely on), its keys kept aside.
    static let moveFromStaging = """
        WITH kept_keys AS (
            INSERT INTO visibility_grant_jobs_incoming_keys (line, idempotency_key)
            SELECT line, idempotency_key FROM visibility_grant_jobs_incoming WHERE idempotency_key IS NOT NULL
        )
        INSERT INTO visibility_grant_jobs
            (to_corp_ids, opt_user_id, fields, idempotency_key, ordering_key, priority, run_at, max_attempts, app,
             traceparent)
        SELECT to_corp_ids, opt_user_id, fields, idempotency_key, ordering_key, priority,
               coalesce(run_at, now()), max_attempts, app, traceparent
        FROM visibility_grant_jobs_incoming
        ORDER BY line
        ON CONFLICT (idempotency_key) DO NOTHING
        """

    static let emptyStaging = "TRUNCATE visibility_grant_jobs_incoming"

    /// Lines whose idempotency key an earlier line used, the first `$1` of them, with
    /// how many there are in all. The hash over the keys finds the few repeated ones;
    /// only their rows are then sorted.
    static let findRepeatedKeys = """
        WITH repeated AS (
            SELECT idempotency_key FROM visibility_grant_jobs_incoming_keys
            GROUP BY idempotency_key HAVING count(*) > 1
        ),
        numbered AS (
            SELECT k.line, min(k.line) OVER (PARTITION BY k.idempotency_key) AS first_line
            FROM visibility_grant_jobs_incoming_keys AS k JOIN repeated USING (idempotency_key)
        )
        SELECT line, first_line, count(*) OVER () FROM numbered WHERE line <> first_line ORDER BY line LIMIT $1
        """

    /// Streams a jobs file into the table in one transaction, in constant memory:
    /// every line is read once, checked, and sent through COPY in chunks, while the
    /// next chunk is read on another thread. If any line is bad, nothing is
    /// inserted and `GrantJobFile.InvalidFile` lists the first `maxErrors` bad lines
    /// and their count. Rows whose idempotency key is taken (in the table, or by an
    /// earlier line) are skipped; the result names the lines that repeated a key of
    /// the same file. `progress` hears the rows and bytes read so far, every chunk.
    /// The reader belongs to the load until this returns (after an error, until
    /// the read under way ends).
    public func enqueue(from reader: GrantJobFile.Reader, maxErrors: Int = 100,
                        progress: (_ rows: Int, _ bytes: Int) -> Void = { _, _ in }) throws -> BulkEnqueueResult {
        try bulkEnqueue(BulkLoadParser(maxErrors: maxErrors, next: reader.next, position: { reader.bytesRead }),
                        maxErrors: maxErrors, progress: progress)
    }

    /// Inserts many jobs in one transaction through COPY: all of them or, on any
    /// error, none. Rows whose idempotency key is taken (in the table or earlier
    /// in `jobs`) are skipped. `progress` hears how many rows were sent so far.
    public func enqueue(contentsOf jobs: [NewGrantJob], progress: (Int) -> Void = { _ in }) throws -> BulkEnqueueResult {
        var remaining = jobs.enumerated().makeIterator()
        let parser = BulkLoadParser(maxErrors: 100, next: {
            remaining.next().map { GrantJobFile.Entry(line: $0.offset + 1, .success($0.element)) }
        }, position: { 0 })
        return try bulkEnqueue(parser, maxErrors: 100) { rows, _ in progress(rows) }
    }

    private func bulkEnqueue(_ parser: BulkLoadParser, maxErrors: Int,
                             progress: (_ rows: Int, _ bytes: Int) -> Void) throws -> BulkEnqueueResult {
        try connection.transaction { connection in
            try connection.query(Self.bulkWorkMemory)
            try connection.query(Self.createStagingTable)
            try connection.query(Self.createStagedKeysTable)
            progress(0, 0)
            parser.start()
            defer { parser.stop() }
            var inserted = 0
            var appErrors: [GrantJobFile.LineError] = []
            var unknownAppLines = 0
            while let chunk = parser.nextChunk() {
                try connection.copyFrom(Self.copyIntoStaging, encoded: chunk.copyData)
                unknownAppLines += try Self.noteUnknownApps(connection, into: &appErrors, maxErrors: maxErrors)
                // Once a line is bad nothing will be kept: read on only to report the rest.
                if chunk.badLinesSoFar == 0 && unknownAppLines == 0 {
                    inserted += try connection.query(Self.moveFromStaging).affectedRows
                }
                try connection.query(Self.emptyStaging)
                progress(chunk.rowsSoFar, chunk.bytesSoFar)
            }
            let summary = parser.summary
            if let failure = summary.readFailure { throw failure }
            progress(summary.submitted, summary.bytesRead)
            if summary.badLines + unknownAppLines > 0 {
                let first = (summary.errors + appErrors).sorted { $0.line < $1.line }.prefix(maxErrors)
                throw GrantJobFile.InvalidFile(errors: Array(first), badLineCount: summary.badLines + unknownAppLines)
            }
            var result = BulkEnqueueResult(submitted: summary.submitted, inserted: inserted)
            for row in try connection.query(Self.findRepeatedKeys, [maxErrors]) {
                result.repeatedKeys.append(RepeatedKey(line: try row.decode(0), firstLine: try row.decode(1)))
                result.repeatedKeyCount = try row.decode(2)
            }
            return result
        }
    }

    /// Adds the staged chunk's lines that name an unknown app (up to `maxErrors` in
    /// all) to `errors`; returns how many lines of the chunk do.
    private static func noteUnknownApps(_ connection: PostgresConnection, into errors: inout [GrantJobFile.LineError],
                                        maxErrors: Int) throws -> Int {
        var count = 0
        for row in try connection.query(findUnknownApps, [maxErrors]) {
            let app: String = try row.decode(1)
            count = try row.decode(2)
            guard errors.count < maxErrors else { continue }
            errors.append(GrantJobFile.LineError(
                line: try row.decode(0),
                message: "app \"\(app)\" is not in visibility_apps, or not one this login may use (`visibility-worker apps list`) [app_must_name_a_row_of_visibility_apps]"))
        }
        return count
    }

    /// One row of the staging table in COPY's column order.
    static func stagingRow(line: Int, _ job: NewGrantJob) -> [String?] {
        [
            String(line), job.toCorpIds.postgresText, job.optUserId, job.fields.postgresText, job.idempotencyKey,
            job.orderingKey, String(job.priority), job.runAt?.postgresText, String(job.maxAttempts), job.app,
            job.traceparent,
        ]
    }
}
