import Dispatch
import Foundation
import GrantQueue
import Logging
import Postgres
import QueueHotPath
import Synchronization

/// Keeps the worker known and its jobs its own: the heartbeat with the worker's
/// report, the leases of calls in flight and of outcomes not yet written, and the
/// rescue of jobs whose worker stopped renewing theirs. On its own thread and
/// connection, so a completion or a claim that waits (for a row lock, a slow
/// disk, the ordering lock) never holds a lease renewal: a lease that ran out
/// meanwhile would let another worker call the same job again.
final class LeaseKeeper: Sendable {
    private let thread = BackgroundThread(name: "lease-keeper")
    private let heartbeatRequested = Atomic<Bool>(false)

    private let configuration: PostgresConfiguration
    private let options: WorkerOptions
    private let inFlight: InFlightJobs
    private let unwrittenJobIDs: @Sendable () -> [Int64]
    private let pauseGate: PauseGate
    private let appsWithoutSecret: @Sendable () -> [String]
    let health: DatabaseHealth
    private let activity: AppActivity
    private let metrics: WorkerMetrics
    private let logger: Logger
    private let host: String
    private let pid: Int32

    /// How often the app signals (and with them `visibility_queue_depth`) are read:
    /// each a bounded read (`AppSignals.Options.countLimit`), whatever the backlog.
    static let queueDepthInterval: Duration = .seconds(15)

    init(configuration: PostgresConfiguration, options: WorkerOptions, inFlight: InFlightJobs,
         unwrittenJobIDs: @escaping @Sendable () -> [Int64], pauseGate: PauseGate,
         appsWithoutSecret: @escaping @Sendable () -> [String], health: DatabaseHealth, activity: AppActivity,
         metrics: WorkerMetrics, logger: Logger, host: String, pid: Int32) {
        self.configuration = configuration
        self.options = options
        self.inFlight = inFlight
        self.unwrittenJobIDs = unwrittenJobIDs
        self.pauseGate = pauseGate
        self.appsWithoutSecret = appsWithoutSecret
        self.health = health
        self.activity = activity
        self.metrics = metrics
        self.logger = logger
        self.host = host
        self.pid = pid
    }

    /// Renews every lease this often: a lease survives two missed renewals.
    var interval: Duration { max(options.lease / 3, .milliseconds(500)) }

    /// Sends the heartbeat (and with it the worker's report) now rather than on schedule.
    func requestHeartbeat() {
        heartbeatRequested.store(true, ordering: .releasing)
        thread.wake()
    }

    func start() {
        thread.start { [self] in loop() }
    }

    /// Stops renewing and takes the worker off the list; call it once the
    /// completer has written what it could (until then its jobs need their leases).
    func stop(timeout: Duration) {
        thread.stop(timeout: timeout)
    }

    private func report() -> GrantQueue.WorkerReport {
        GrantQueue.WorkerReport(inFlight: inFlight.count, pause: pauseGate.report.map {
            ($0.reason, ContinuousClock.now.duration(to: $0.until))
        }, version: options.version, lastOutcomeByApp: activity.lastOutcomeByApp)
    }

    private func loop() {
        var queue: GrantQueue?
        var nextDepthReading = ContinuousClock.now
        var reportedWithoutSecret: [String]?
        var rescueWindow = RescueWindow()
        while !thread.isStopping {
            heartbeatRequested.store(false, ordering: .relaxed)
            var wait = interval
            do {
                let active = try queue ?? GrantQueue(configuration: configuration, logger: logger)
                queue = active
                let gate = try active.heartbeat(workerID: options.workerID, host: host, pid: pid, report: report())
                if let refusal = SchemaMigrator.refusal(oldestWorkerSchema: gate) { health.refuse(refusal) }
                let withoutSecret = appsWithoutSecret()
                if withoutSecret != reportedWithoutSecret {
                    try active.reportAppsWithoutSecret(workerID: options.workerID, apps: withoutSecret)
                    reportedWithoutSecret = withoutSecret
                }
                let calling = inFlight.ids
                let sentAt = ContinuousClock.now
                try active.extendLeases(jobIDs: calling + unwrittenJobIDs(), workerID: options.workerID, lease: options.lease)
                inFlight.renewed(calling, sentAt: sentAt)
                let rescueStart = ContinuousClock.now
                let lookBack = rescueWindow.lookBack(at: rescueStart)
                let rescued = try active.rescueExpiredLeases(limit: GrantQueue.rescueBatch, lookBack: lookBack)
                rescueWindow.record(passStartedAt: rescueStart, lookBack: lookBack, rescued: rescued.count, limit: GrantQueue.rescueBatch)
                if !rescued.isEmpty {
                    logger.warning("took back jobs whose worker stopped renewing its lease", metadata: ["jobs": "\(rescued.count)"])
                }
                health.succeeded(reconnectCount: active.reconnectCount)
                if options.reportQueueDepth, ContinuousClock.now >= nextDepthReading {
                    // A count over the backlog: not on every heartbeat, and never a reason to
                    // treat the database as down (the gauge just keeps its last value).
                    if let signals = try? active.appSignals(defaultCap: options.globalQPS, observedRate: activity.allowedRate(app:)) {
                        for app in signals { metrics.signals(app) }
                        metrics.queueDepth.record(signals.reduce(0) { $0 + $1.dueJobs })
                    }
                    if let horizon = try? active.horizon() {
                        metrics.oldestTransactionAge.record(horizon.oldestTransactionAgeSeconds ?? 0)
                        metrics.jobsDeadRows.record(horizon.jobsDeadRows)
                    }
                    metrics.callsInFlight.record(inFlight.count)
                    nextDepthReading = ContinuousClock.now + Self.queueDepthInterval
                }
            } catch {
                // A broken session is re-established by the connection itself before its next statement.
                wait = min(wait, health.failed(error, during: "renewing leases"))
                if let cutoff = configuration.cutoff?.deadline, cutoff <= .now { break }
            }
            if heartbeatRequested.load(ordering: .acquiring) { continue }
            thread.wait(wait)
        }
        if let queue {
            try? queue.deregisterWorker(id: options.workerID)
            queue.close()
        }
    }
}
