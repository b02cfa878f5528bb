import Foundation
import GrantQueue
import Postgres

/// Waiting for a job's outcome (`visibility-worker wait`), on the channel the
/// done trigger notifies (sql/010_apps.sql).
extension GrantQueue {
    public static let doneChannel = "visibility_grant_jobs_done"

    /// One job's row as `wait` prints it.
    public struct JobResult: Sendable, Codable, Equatable {
        public var id: Int64
        public var app: String
        public var state: String
        public var attempts: Int
        public var maxAttempts: Int
        public var lastHTTPStatus: Int?
        public var lastErrorCode: String?
        public var lastErrorMessage: String?
        public var lastRequestID: String?
        public var finishedAt: Date?

        public var isFinished: Bool { ["succeeded", "failed", "cancelled"].contains(state) }
    }

    static let readJob = """
        SELECT id, app, state, attempts, max_attempts, last_http_status, last_error_code, last_error_message,
               last_request_id, finished_at
        FROM visibility_grant_jobs
        WHERE id = $1 OR idempotency_key = $2
        LIMIT 1
        """

    /// The job with this id or idempotency key; `nil` when there is none.
    public func job(id: Int64?, idempotencyKey: String?) throws -> JobResult? {
        try connection.query(Self.readJob, [id, idempotencyKey]).first.map { row in
            JobResult(id: try row.decode(0), app: try row.decode(1), state: try row.decode(2), attempts: try row.decode(3),
                      maxAttempts: try row.decode(4), lastHTTPStatus: try row.decode(5), lastErrorCode: try row.decode(6),
                      lastErrorMessage: try row.decode(7), lastRequestID: try row.decode(8), finishedAt: try row.decode(9))
        }
    }

    /// Listens for finished jobs; false in transaction pool mode (poll instead).
    public func listenForFinishedJobs() throws -> Bool {
        guard connection.configuration.poolMode == .session else { return false }
        try connection.listen(Self.doneChannel)
        return true
    }

    /// The ids named by the done notifications that arrive within `timeout`.
    public func waitForFinishedJobs(timeout: Duration) throws -> [Int64] {
        try connection.waitForNotifications(timeout: timeout)
            .filter { $0.channel == Self.doneChannel }
            .flatMap { $0.payload.split(separator: ",").compactMap { Int64($0) } }
    }
}
