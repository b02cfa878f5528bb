import Logging
import Postgres

/// The queue on one connection the caller owns. Its statements live in the
/// room that runs them: QueueHotPath (the worker), QueueReadModels (`status`, the
/// console), QueueOperations (operators' commands) and BulkImport (files).
///
/// Like the connection, a `GrantQueue` is used by one thread at a time; run
/// several (each with its own connection) for parallel claimers.
public final class GrantQueue {
    /// The channel the insert trigger notifies (sql/001_grant_jobs.sql).
    public static let notificationChannel = "visibility_grant_jobs"

    /// The longest lease any worker holds: `run --lease` may not exceed it, and each
    /// renewal sets a lease to now plus `--lease`. A `running` row whose lease ends
    /// further ahead than this was not written by a worker (a poison row).
    public static let longestLease = Duration.seconds(3600)
    /// The same, for SQL (a constant, not input).
    package static let longestLeaseSQL = "make_interval(secs => \(Int(longestLease.seconds)))"
    /// A job `j` in the claim index (`visibility_grant_jobs_claim_order`, sql/019):
    /// its predicate, word for word, so the planner can prove it and read that index.
    package static let inClaimIndexSQL = "j.state = 'pending' AND NOT j.ordering_blocked AND NOT j.scheduled"

    /// The rooms of the queue (QueueHotPath, QueueReadModels, QueueOperations,
    /// BulkImport) each run their own statements on it.
    package let connection: PostgresConnection

    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// Opens a connection of its own.
    public convenience init(configuration: PostgresConfiguration, logger: Logger) throws {
        self.init(connection: try PostgresConnection(configuration: configuration, logger: logger))
    }

    /// How many times the connection had to be re-established (each one may have missed notifications).
    public var reconnectCount: Int { connection.reconnectCount }

    public func close() {
        connection.close()
    }
}

extension GrantQueue {
    /// Asks to be told of inserted jobs. False where notifications cannot work
    /// (transaction pool mode: LISTEN needs a session of its own): poll instead.
    public func listenForNewJobs() throws -> Bool {
        guard connection.configuration.poolMode == .session else { return false }
        try connection.listen(Self.notificationChannel)
        return true
    }

    /// Waits up to `timeout` for an insert notification; true if one came.
    @discardableResult
    public func waitForNewJobs(timeout: Duration) throws -> Bool {
        !(try connection.waitForNotifications(timeout: timeout)).isEmpty
    }
}
