import Foundation
import Postgres

/// What an autoscaler (and an operator) needs to know about one app's backlog:
/// how much is due, how long it has waited, how fast the fleet may work it off,
/// and whether anything is working it off at all. `status --json` (under `apps`),
/// every worker's `/metrics` and the console show it (docs/OPERATIONS.md,
/// "Autoscaling").
public struct AppSignals: Sendable, Equatable, Codable {
    /// How the signals are read and judged.
    public struct Options: Sendable, Equatable {
        /// Due jobs are counted exactly up to this many per app; past it the count
        /// stops (`dueJobsAtLeast`), so a read costs the same on any backlog.
        public var countLimit: Int
        /// An app with due jobs is stalled when its oldest has waited this long and no
        /// live worker has written an outcome of the app's jobs for as long.
        public var stallAfter: Duration
        /// Workers whose heartbeat is older than this are not counted as working.
        public var liveWithin: Duration

        public init(countLimit: Int = 10_000, stallAfter: Duration = .seconds(60), liveWithin: Duration = .seconds(60)) {
            self.countLimit = countLimit
            self.stallAfter = stallAfter
            self.liveWithin = liveWithin
        }
    }

    public var app: String
    /// Jobs a worker could claim now: pending, due, not held back behind an
    /// earlier job of their ordering key. Exact up to `Options.countLimit`.
    public var dueJobs: Int
    /// True when there are more due jobs than `dueJobs` says (the count stopped).
    public var dueJobsAtLeast: Bool
    /// How long the longest-waiting due job has been due; nil when none is.
    public var oldestDueJobAgeSeconds: Double?
    /// Calls per second the fleet may make for this app: its cap (`global_qps`, or
    /// the worker's `--global-qps`), 0 while the app is paused; nil when uncapped
    /// and no worker's rate is known.
    public var allowedCallsPerSecond: Double?
    /// `dueJobs ÷ allowedCallsPerSecond` (a lower bound when `dueJobsAtLeast`); nil
    /// when no rate is known, or none is allowed while jobs are due.
    public var secondsToDrain: Double?
    /// Since a live worker last wrote an outcome of this app's jobs; nil when none has.
    public var secondsSinceLastOutcome: Double?
    /// Due jobs, the oldest due for `stallAfter`, no outcome for as long, and the app
    /// not paused (a pause has its own cause and end, shown beside it).
    public var stalled: Bool

    public init(app: String, dueJobs: Int, dueJobsAtLeast: Bool = false, oldestDueJobAgeSeconds: Double? = nil,
                allowedCallsPerSecond: Double? = nil, secondsSinceLastOutcome: Double? = nil, paused: Bool = false,
                stallAfter: Duration = Options().stallAfter) {
        self.app = app
        self.dueJobs = dueJobs
        self.dueJobsAtLeast = dueJobsAtLeast
        self.oldestDueJobAgeSeconds = oldestDueJobAgeSeconds
        let allowed = paused ? 0 : allowedCallsPerSecond
        self.allowedCallsPerSecond = allowed
        if dueJobs == 0 {
            secondsToDrain = 0
        } else if let allowed, allowed > 0 {
            secondsToDrain = Double(dueJobs) / allowed
        } else {
            secondsToDrain = nil
        }
        self.secondsSinceLastOutcome = secondsSinceLastOutcome
        let window = stallAfter.seconds
        stalled = !paused && dueJobs > 0 && (oldestDueJobAgeSeconds ?? 0) >= window
            && (secondsSinceLastOutcome.map { $0 >= window } ?? true)
    }
}
