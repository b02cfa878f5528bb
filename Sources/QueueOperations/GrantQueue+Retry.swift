import Foundation
import GrantQueue
import Postgres

extension GrantQueue {
    /// Which failed jobs `retry` takes back. The parts given combine with AND;
    /// at least one must be given.
    public struct RetrySelection: Sendable, Equatable {
        public var ids: [Int64]?
        public var errorCodes: [String]?
        /// `finished_at` at or after this.
        public var failedSince: Date?
        /// `finished_at` before this.
        public var failedUntil: Date?

        public init(ids: [Int64]? = nil, errorCodes: [String]? = nil, failedSince: Date? = nil, failedUntil: Date? = nil) {
            self.ids = ids
            self.errorCodes = errorCodes
            self.failedSince = failedSince
            self.failedUntil = failedUntil
        }

        public var isEmpty: Bool { ids == nil && errorCodes == nil && failedSince == nil && failedUntil == nil }
    }

    /// Failed jobs back to pending, due now, with `$5` more attempts. The attempt
    /// counter keeps counting, so the audit trail's attempt numbers stay unique.
    /// The last error stays on the row until the next attempt replaces it. The
    /// ordering lock comes before any row lock, as for `cancel`.
    static let retryFailed = """
        WITH selected AS (
            SELECT id FROM visibility_grant_jobs
            WHERE (SELECT true FROM visibility_ordering_lock())
              AND state = 'failed'
              AND ($1::bigint[] IS NULL OR id = ANY($1::bigint[]))
              AND ($2::text[] IS NULL OR last_error_code = ANY($2::text[]))
              AND ($3::timestamptz IS NULL OR finished_at >= $3::timestamptz)
              AND ($4::timestamptz IS NULL OR finished_at < $4::timestamptz)
            FOR UPDATE
        ),
        retried AS (
            UPDATE visibility_grant_jobs AS j
            SET state = 'pending', run_at = now(), finished_at = NULL, updated_at = now(),
                max_attempts = least(j.attempts + $5::int, 1000)
            FROM selected
            WHERE j.id = selected.id
            RETURNING j.id
        )
        SELECT count(*)::bigint, pg_notify($6, '')::text FROM retried
        """

    /// Puts the selected failed jobs back to pending with `moreAttempts` fresh
    /// attempts each; returns how many.
    public func retryFailed(_ selection: RetrySelection, moreAttempts: Int32) throws -> Int {
        precondition(!selection.isEmpty, "an empty selection would retry every failed job")
        let parameters: [any PostgresEncodable] = [
            selection.ids, selection.errorCodes, selection.failedSince, selection.failedUntil, moreAttempts,
            Self.notificationChannel,
        ]
        return try connection.query(Self.retryFailed, parameters).first?.decode(0, as: Int.self) ?? 0
    }
}
