import DingTalk
import Foundation
import GrantQueue
import Logging
import QueueHotPath

/// The producer's view of `visibility_apps`: a context per app, the fleet
/// budget per app, and whose turn it is to be claimed. Used by the producer
/// thread only (it is not `Sendable`), on the producer's connection.
///
/// Claims rotate across the apps this worker can serve that are not paused, so
/// one app's backlog delays another app's new job by at most one batch.
final class AppRoster {
    /// How a claimable app may be claimed.
    enum Turn {
        /// Normally, up to a batch.
        case open(AppContext)
        /// One job, as the probe after the app's pause ran out (this worker holds the probe).
        case probe(AppContext)

        var app: AppContext {
            switch self {
            case .open(let app), .probe(let app): app
            }
        }
    }

    /// How often the table is re-read. Pauses hold without it (the claim statement
    /// checks them); it finds new apps, changed budgets and pauses that ran out.
    static let refreshInterval: Duration = .seconds(5)
    /// How often the jobs waiting on throttles are counted for /metrics (a scan of the pending jobs).
    static let throttledCountInterval: Duration = .seconds(15)

    private let credentials: AppCredentials
    private let options: WorkerOptions
    private let metrics: WorkerMetrics
    private let logger: Logger
    private(set) var rows: [GrantApp] = []
    private(set) var contexts: [String: AppContext] = [:]
    private var fleetLimiters: [String: FleetRateLimiter] = [:]
    private var turns = TurnRotation()
    /// Claimed jobs waiting for a slot of their app's fleet budget (in flight, leases kept).
    private var parkedJobs: [String: (app: AppContext, jobs: [ClaimedGrantJob])] = [:]
    /// Where each app's next claim starts.
    private var claimCursors: [String: ClaimCursor] = [:]
    private var nextRefresh = ContinuousClock.now
    private var nextThrottledCount = ContinuousClock.now

    init(credentials: AppCredentials, options: WorkerOptions, metrics: WorkerMetrics, logger: Logger) {
        self.credentials = credentials
        self.options = options
        self.metrics = metrics
        self.logger = logger
    }

    /// Records the jobs waiting on throttles per app, when due. A failed count is
    /// skipped (it is a gauge, the claims matter more).
    private func countThrottledJobs(_ queue: GrantQueue) {
        guard ContinuousClock.now >= nextThrottledCount else { return }
        nextThrottledCount = ContinuousClock.now + Self.throttledCountInterval
        guard let counts = try? queue.throttledJobCounts(codes: DingTalkErrorCode.throttleCodes) else { return }
        for row in rows { metrics.throttledJobs(app: row.name, counts[row.name] ?? 0) }
    }

    /// Each app's claim position, kept across its turns (`ClaimCursor`).
    subscript(cursorOf app: AppContext) -> ClaimCursor {
        get { claimCursors[app.name] ?? ClaimCursor() }
        set { claimCursors[app.name] = newValue }
    }

    /// Names of the apps this worker has no secret for (reported with the heartbeat).
    var appsWithoutSecret: [String] {
        rows.map(\.name).filter { contexts[$0]?.hasSecret != true }
    }

    /// Re-read the table at the next `update` (after SIGHUP, or a pause written).
    func refreshSoon() {
        nextRefresh = .now
    }

    /// Writes the pauses and resumes the call tasks asked for, then re-reads the
    /// apps when due. Throws database errors (the caller backs off).
    func update(_ queue: GrantQueue, workerID: String) throws {
        for app in contexts.values {
            let requests = app.takeDatabaseRequests()
            for (index, request) in requests.enumerated() {
                do {
                    switch request {
                    case .pause(let duration, let reason):
                        try queue.pauseApp(app.name, for: duration, reason: reason)
                    case .resume:
                        try queue.resumeApp(app.name, workerID: workerID)
                        logger.notice("resuming calls for the app: DingTalk answered its probe normally", metadata: ["app": "\(app.name)"])
                    }
                } catch {
                    app.putBack(Array(requests[index...]))  // written once the database answers again
                    throw error
                }
                nextRefresh = .now
            }
        }
        guard ContinuousClock.now >= nextRefresh else { return }
        let fresh = try queue.readApps()
        for row in fresh {
            let known = rows.first { $0.name == row.name }
            if contexts[row.name] == nil || known?.appKey != row.appKey {
                contexts[row.name] = credentials.context(for: row, options: options)
                fleetLimiters[row.name] = nil
            }
            if let app = contexts[row.name] {
                if let cap = row.globalQPS ?? options.globalQPS {
                    if fleetLimiters[row.name]?.cap != cap {
                        fleetLimiters[row.name] = FleetRateLimiter(appKey: app.rateBucketKey, cap: cap)
                    }
                } else {
                    fleetLimiters[row.name] = nil
                }
                metrics.app(row.name, paused: row.isPaused || app.pauseGate.active != nil, withoutSecret: !app.hasSecret)
            }
        }
        for gone in Set(contexts.keys).subtracting(fresh.map(\.name)) {
            contexts[gone] = nil
            fleetLimiters[gone] = nil
        }
        rows = fresh
        countThrottledJobs(queue)
        // Read again when the first pause runs out, so its probe is not late.
        let pauseEnds = fresh.compactMap(\.pausedUntil).map { $0.timeIntervalSinceNow }.filter { $0 > 0 }.min()
        nextRefresh = ContinuousClock.now + min(Self.refreshInterval, .milliseconds(Int64((pauseEnds ?? 3600) * 1000) + 10))
    }

    /// Whose turn it is to be claimed, how many apps take turns now (0: none can be
    /// claimed), and, when none is ready yet, when the first will be. An app waits
    /// out its rate (`notReady`), or after an empty claim the next insert or poll
    /// (`idle`), while the others take their turns. An app whose
    /// fleet-wide pause ran out takes its turn as a probe, if this worker wins the
    /// probe and has none of the app's calls in flight.
    func nextTurn(_ queue: GrantQueue, workerID: String) throws -> (turn: Turn?, candidates: Int, retryAfter: Duration) {
        let now = Date()
        let candidates = rows.compactMap { row -> (GrantApp, AppContext)? in
            guard let app = contexts[row.name], app.hasSecret, app.pauseGate.active == nil,
                  row.pausedUntil.map({ $0 <= now }) ?? true else { return nil }
            return (row, app)
        }
        let byName = Dictionary(candidates.map { ($0.0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var probing = false
        let (chosen, retryAfter) = try turns.next(among: candidates.map(\.0.name), at: .now) { name in
            guard let (row, app) = byName[name] else { return .pass }
            if row.pausedUntil == nil { return .take }
            guard app.inFlight.load(ordering: .relaxed) == 0 else { return .pass }
            // Another worker probes: look again in a second (or when the table is read again).
            guard try queue.takeProbe(app: row.name, workerID: workerID, lease: options.lease) else { return .passFor(.seconds(1)) }
            probing = true
            return .take
        }
        guard let chosen, let (_, app) = byName[chosen] else { return (nil, candidates.count, retryAfter) }
        return (probing ? .probe(app) : .open(app), candidates.count, .zero)
    }

    /// The app cannot send more for `duration` (its rate or fleet budget is used up).
    func notReady(_ app: AppContext, for duration: Duration) {
        turns.notReady(app.name, until: .now + duration)
    }

    /// The app had nothing due: not claimed again until `duration` passed or an insert is notified.
    func idle(_ app: AppContext, for duration: Duration) {
        turns.idle(app.name, until: .now + duration)
    }

    func parked(_ app: AppContext) -> [ClaimedGrantJob] {
        parkedJobs[app.name]?.jobs ?? []
    }

    func park(_ jobs: [ClaimedGrantJob], app: AppContext) {
        guard !jobs.isEmpty else { return }
        parkedJobs[app.name, default: (app, [])].jobs.append(contentsOf: jobs)
    }

    func takeParked(_ app: AppContext) -> [ClaimedGrantJob] {
        parkedJobs.removeValue(forKey: app.name)?.jobs ?? []
    }

    func takeAllParked() -> [(AppContext, [ClaimedGrantJob])] {
        takeParked { _ in true }
    }

    func takeParked(where condition: (AppContext) -> Bool) -> [(AppContext, [ClaimedGrantJob])] {
        let taken = parkedJobs.values.filter { condition($0.app) }
        for entry in taken { parkedJobs[entry.app.name] = nil }
        return taken.map { ($0.app, $0.jobs) }
    }

    /// An insert was notified: every app may have work again.
    func wakeAll() {
        turns.wakeAll()
    }

    /// Whether an insert notification would change anything.
    var hasIdleApps: Bool {
        turns.hasIdleApps(at: .now)
    }

    func fleetLimiter(for app: AppContext) -> FleetRateLimiter? {
        fleetLimiters[app.name]
    }

    /// The apps whose jobs this worker can claim (for `--until-empty`).
    var servedApps: [String] {
        rows.map(\.name).filter { contexts[$0]?.hasSecret == true }
    }
}
