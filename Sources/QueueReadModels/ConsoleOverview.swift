import Foundation
import GrantQueue

/// What the console's overview shows, read in one go.
public struct ConsoleOverview: Sendable, Equatable {
    /// Attempts that ended in one minute, from the audit trail.
    public struct Minute: Sendable, Equatable {
        /// Whole minutes before now (0 = the current, partial minute).
        public var minutesAgo: Int
        public var activity: QueueStats.Activity
    }

    /// Every state, zero included: exact, except the states in `estimatedStates`.
    public var countsByState: [String: Int]
    /// States too big to count on every refresh: their count is the planner's
    /// estimate (table statistics), shown as such.
    public var estimatedStates: Set<String>
    /// Jobs queued for later, counted up to the overview's limit (`scheduledPendingAtLeast`).
    public var scheduledPending: Int
    public var scheduledPendingAtLeast = false
    /// How long the longest-waiting due job has waited; `nil` when none is due.
    public var oldestDueAgeSeconds: Double?
    /// The last hour, oldest minute first, every minute present.
    public var minutes: [Minute]
    /// Every app with its pause and its signals (`AppSignals`).
    public var apps: [GrantApp] = []
    public var errorCodes: [QueueStats.ErrorCodeCount]
    public var workers: [QueueStats.Worker]
    /// Pending jobs per app whose last answer was a throttle; `nil` when pending
    /// jobs are too many to count on every refresh (see `estimatedStates`).
    public var throttledJobsByApp: [String: Int]?
    /// What holds vacuum back on the jobs table.
    public var database = HorizonReport()

    public static let chartMinutes = 60
}
