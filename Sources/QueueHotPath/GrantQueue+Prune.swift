import GrantQueue
import Postgres

extension GrantQueue {
    /// Deletes up to `$2` finished jobs that finished more than `$1` seconds ago,
    /// oldest first, with their attempt rows. SKIP LOCKED and a small batch keep
    /// each statement short, so claims and completions never wait on it.
    static let pruneBatch = PostgresStatement(
        name: "grant_jobs_prune_batch",
        sql: """
            WITH doomed AS (
                SELECT id FROM visibility_grant_jobs
                WHERE state IN ('succeeded', 'failed', 'cancelled')
                  AND finished_at < now() - make_interval(secs => $1::float8)
                ORDER BY finished_at
                LIMIT $2
                FOR UPDATE SKIP LOCKED
            ),
            attempts AS (
                DELETE FROM visibility_grant_attempts AS a USING doomed WHERE a.job_id = doomed.id
                RETURNING 1
            ),
            jobs AS (
                DELETE FROM visibility_grant_jobs AS j USING doomed WHERE j.id = doomed.id
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM jobs)::bigint, (SELECT count(*) FROM attempts)::bigint
            """
    )

    /// One key for `run --retention`: one worker at a time prunes.
    static let pruneLockKey: Int64 = 0x7669_7369_7072_756E  // "visiprun"

    public struct PruneProgress: Sendable, Equatable {
        public var jobs = 0
        public var attempts = 0
        public init() {}
    }

    static let tryPruneLock = "SELECT pg_try_advisory_xact_lock($1)"

    /// Deletes, batch by batch, every finished job older than `age` and its attempts.
    /// `progress` is called after each batch with the running totals; `shouldStop`
    /// ends the work between batches.
    @discardableResult
    public func prune(olderThan age: Duration, batchSize: Int = 1000, shouldStop: () -> Bool = { false },
                      progress: (PruneProgress) -> Void = { _ in }) throws -> PruneProgress {
        var total = PruneProgress()
        while !shouldStop() {
            let (jobs, attempts) = try pruneBatch(olderThan: age, batchSize: batchSize, on: connection)
            total.jobs += jobs
            total.attempts += attempts
            progress(total)
            if jobs < batchSize { return total }
        }
        return total
    }

    /// Prunes only while no other session is pruning; returns nil if one was when
    /// it started. The advisory lock is held per batch, in the batch's own
    /// transaction: short, and possible through a transaction-mode pooler.
    public func pruneIfNoOneElseIs(olderThan age: Duration, batchSize: Int = 1000,
                                   shouldStop: () -> Bool = { false }) throws -> PruneProgress? {
        var total: PruneProgress?
        while !shouldStop() {
            let batch = try connection.transaction { connection -> (jobs: Int, attempts: Int)? in
                guard try connection.query(Self.tryPruneLock, [Self.pruneLockKey]).first?.decode(0, as: Bool.self) == true else {
                    return nil
                }
                return try pruneBatch(olderThan: age, batchSize: batchSize, on: connection)
            }
            guard let batch else { return total }
            var sum = total ?? PruneProgress()
            sum.jobs += batch.jobs
            sum.attempts += batch.attempts
            total = sum
            if batch.jobs < batchSize { break }
        }
        return total ?? PruneProgress()
    }

    private func pruneBatch(olderThan age: Duration, batchSize: Int, on connection: PostgresConnection) throws -> (jobs: Int, attempts: Int) {
        let row = try connection.query(Self.pruneBatch, [age.seconds, batchSize]).first
        return (try row?.decode(0) ?? 0, try row?.decode(1) ?? 0)
    }
}
