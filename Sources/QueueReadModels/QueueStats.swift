import Foundation
import GrantQueue

/// A snapshot of the queue for `status`.
public struct QueueStats: Sendable, Equatable, Codable {
    public static let states = ["pending", "running", "succeeded", "failed", "cancelled"]

    public struct ErrorCodeCount: Sendable, Equatable, Codable {
        public var code: String
        /// The jobs' state: `failed` for terminal errors; `pending` or `running` for
        /// jobs that will be tried again.
        public var state: String
        public var count: Int
        /// True for failed jobs (the error ended them); false while they are retried.
        public var terminal: Bool { state == "failed" }

        enum CodingKeys: String, CodingKey { case code, state, count, terminal }

        public init(code: String, state: String, count: Int) {
            self.code = code
            self.state = state
            self.count = count
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            code = try container.decode(String.self, forKey: .code)
            state = try container.decode(String.self, forKey: .state)
            count = try container.decode(Int.self, forKey: .count)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(code, forKey: .code)
            try container.encode(state, forKey: .state)
            try container.encode(count, forKey: .count)
            try container.encode(terminal, forKey: .terminal)
        }
    }

    /// Attempts that ended in a window, from the audit trail.
    public struct Activity: Sendable, Equatable, Codable {
        public var succeeded = 0
        public var failed = 0
        /// Attempts that put their job back to wait for another try.
        public var retried = 0

        public init(succeeded: Int = 0, failed: Int = 0, retried: Int = 0) {
            self.succeeded = succeeded
            self.failed = failed
            self.retried = retried
        }
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
        /// When the current pause began (to within a heartbeat).
        public var pausedSince: Date?
        /// The release and commit the worker runs (`1.0.0 (commit abc1234)`); `nil`
        /// for workers from before sql/008_worker_version.sql.
        public var version: String?
        /// Apps this worker has no secret for: it leaves their jobs to other workers.
        public var appsWithoutSecret: [String] = []
    }

    /// Every state, zero included: exact, except the states in `estimatedStates`.
    public var countsByState: [String: Int]
    /// States too big to count on every call: their count is the planner's estimate
    /// (table statistics), and `status` marks it so.
    public var estimatedStates: Set<String> = []
    /// Jobs queued for later (a future `run_at`, or a retry's backoff), waiting
    /// outside the claim index; counted up to a limit (`scheduledPendingAtLeast`).
    public var scheduledPending: Int
    /// True when more jobs are queued for later than `scheduledPending` says.
    public var scheduledPendingAtLeast = false
    /// How long the longest-waiting runnable job has been due (the longest of the
    /// apps' `oldestDueJobAgeSeconds`); `nil` when none is.
    public var oldestPendingAgeSeconds: Double?
    public var lastMinute: Activity
    public var lastHour: Activity
    /// `last_error_code` of unfinished and failed jobs, by state.
    public var errorCodes: [ErrorCodeCount]
    /// Workers whose heartbeat is recent.
    public var workers: [Worker]
    /// Rows in a shape no worker leaves behind (QueueStats+UnexplainedRows.swift).
    public var unexplainedRows = UnexplainedRows()
    /// The apps, their pauses and unfinished jobs.
    public var apps: [GrantApp] = []
    /// Pending jobs per app whose last answer was a throttle (`throttledJobCounts`);
    /// apps without any are left out.
    public var throttledJobsByApp: [String: Int] = [:]
    /// What holds vacuum back on the jobs table (`database` in `--json`).
    public var database = HorizonReport()
}
