import GrantQueue
import Postgres

extension GrantQueue {
    /// Cancels the pending jobs among those named by id or idempotency key. Jobs
    /// that are running or finished are left alone, and counted.
    ///
    /// The ordering lock comes first, before any row lock (sql/017): cancelling a
    /// keyed job chooses its key's head under that lock, and a completion holding
    /// it may be waiting for one of these rows.
    static let cancelPending = """
        WITH selected AS (
            SELECT id, idempotency_key, state FROM visibility_grant_jobs
            WHERE (SELECT true FROM visibility_ordering_lock())
              AND (id = ANY($1::bigint[]) OR idempotency_key = ANY($2::text[]))
            FOR UPDATE
        ),
        cancelled AS (
            UPDATE visibility_grant_jobs AS j
            SET state = 'cancelled', finished_at = now(), updated_at = now()
            FROM selected
            WHERE j.id = selected.id AND selected.state = 'pending'
            RETURNING j.id
        )
        SELECT (SELECT count(*) FROM selected)::bigint, (SELECT count(*) FROM cancelled)::bigint,
               (SELECT count(*) FROM unnest($1::bigint[]) AS i (id)
                WHERE NOT EXISTS (SELECT 1 FROM selected AS s WHERE s.id = i.id))::bigint
             + (SELECT count(*) FROM unnest($2::text[]) AS k (key)
                WHERE NOT EXISTS (SELECT 1 FROM selected AS s WHERE s.idempotency_key = k.key))::bigint
        """

    public struct CancelResult: Sendable, Equatable {
        /// Jobs that matched an id or key, in any state.
        public var found: Int
        /// Of those, the pending ones, now cancelled.
        public var cancelled: Int
        /// Ids and keys (each counted once) that name no job.
        public var unmatched: Int
    }

    public func cancelPending(ids: [Int64], idempotencyKeys: [String]) throws -> CancelResult {
        let ids = Array(Set(ids)), keys = Array(Set(idempotencyKeys))
        let row = try connection.query(Self.cancelPending, [ids, keys]).first
        return CancelResult(found: try row?.decode(0) ?? 0, cancelled: try row?.decode(1) ?? 0, unmatched: try row?.decode(2) ?? 0)
    }
}
