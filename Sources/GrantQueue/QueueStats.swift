import Foundation

/// A snapshot of the queue for `status`.
public struct QueueStats: Sendable, Equatable, Codable {
    public static let states = ["pending", "running", "succeeded", "failed", "cancelled"]

    public struct ErrorCodeCount: Sendable, Equatable, Codable {
        public var code: String
        public var state: String
        public var count: Int
    }

    public struct Worker: Sendable, Equatable, Codable {
        public var id: String
        public var host: String
        public var pid: Int
        public var startedAt: Date
        public var heartbeatAgeSeconds: Double
        public var inFlight: Int
        /// Why this worker has stopped calling the API (paused, or probing with one
        /// call after a pause); `nil` while calls flow freely.
        public var pauseReason: String?
        /// When the pause ends; past while the worker is probing.
        public var pausedUntil: Date?
    }

    /// Every state, zero included.
    public var countsByState: [String: Int]
    /// Pending jobs whose `run_at` is still in the future (scheduled or backing off).
    public var scheduledPending: Int
    /// How long the longest-waiting runnable job has been due; `nil` when none is.
    public var oldestPendingAgeSeconds: Double?
    /// `last_error_code` of unfinished and failed jobs, by state.
    public var errorCodes: [ErrorCodeCount]
    /// Workers whose heartbeat is recent.
    public var workers: [Worker]
}
