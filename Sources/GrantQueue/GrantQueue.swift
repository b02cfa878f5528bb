import Postgres

/// The queue's SQL, run on one connection the caller owns.
///
/// Like the connection, a `GrantQueue` is used by one thread at a time; run
/// several (each with its own connection) for parallel claimers.
public final class GrantQueue {
    /// The channel the insert trigger notifies (sql/001_grant_jobs.sql).
    public static let notificationChannel = "visibility_grant_jobs"

    public let connection: PostgresConnection

    public init(connection: PostgresConnection) {
        self.connection = connection
    }
}
