import Dispatch
import Foundation
import GrantQueue
import Logging
import Postgres
import Synchronization

/// Writes outcomes back in batches, on its own thread and connection, keeps
/// the worker's heartbeat and in-flight leases fresh, and takes back jobs whose
/// worker stopped renewing their leases (the rescuer).
///
/// Outcomes wait in memory until written: while the database is down they pile
/// up here and go out once it is back (a lease that expired meanwhile makes the
/// fenced write a no-op, and the job simply runs again).
final class Completer: Sendable {
    private let pending = Mutex<[GrantJobOutcome]>([])
    /// Submitted but not yet acknowledged by the database.
    private let outstanding = Atomic<Int>(0)
    private let wake = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)
    private let heartbeatRequested = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    private let configuration: PostgresConfiguration
    private let options: WorkerOptions
    private let inFlight: InFlightJobs
    private let pauseGate: PauseGate
    private let appsWithoutSecret: @Sendable () -> [String]
    /// Called after a write that finished jobs (see `ProducerWakeUp`).
    private let finishedJobs: @Sendable () -> Void
    let health: DatabaseHealth
    private let metrics: WorkerMetrics
    private let logger: Logger
    private let host: String
    private let pid: Int32

    init(configuration: PostgresConfiguration, options: WorkerOptions, inFlight: InFlightJobs, pauseGate: PauseGate,
         appsWithoutSecret: @escaping @Sendable () -> [String], finishedJobs: @escaping @Sendable () -> Void, health: DatabaseHealth, metrics: WorkerMetrics, logger: Logger, host: String, pid: Int32) {
        self.configuration = configuration
        self.options = options
        self.inFlight = inFlight
        self.pauseGate = pauseGate
        self.appsWithoutSecret = appsWithoutSecret
        self.finishedJobs = finishedJobs
        self.health = health
        self.metrics = metrics
        self.logger = logger
        self.host = host
        self.pid = pid
    }

    /// Most outcomes written by one statement.
    static let maxBatch = 1000
    /// How long outcomes may gather before a write, and how many end the wait early:
    /// a statement costs about as much for 50 outcomes as for 5, so at thousands
    /// of calls a second this halves the database's work for a few ms of delay.
    static let gatherWindow: DispatchTimeInterval = .milliseconds(3)
    static let gatherTarget = 200
    /// How often `visibility_queue_depth` is read (a count over the due backlog).
    static let queueDepthInterval: Duration = .seconds(15)

    var unwrittenCount: Int { outstanding.load(ordering: .acquiring) }

    /// Jobs whose outcome waits to be written: still `running` in the table, so
    /// their leases are extended like those of calls in flight.
    var unwrittenJobIDs: [Int64] { pending.withLock { $0.map(\.jobID) } }

    func submit(_ outcome: GrantJobOutcome) {
        submit(CollectionOfOne(outcome))
    }

    func submit(_ outcomes: some Collection<GrantJobOutcome>) {
        guard !outcomes.isEmpty else { return }
        outstanding.add(outcomes.count, ordering: .relaxed)
        let (before, after) = pending.withLock { pending in
            let before = pending.count
            pending.append(contentsOf: outcomes)
            return (before, pending.count)
        }
        // Wake the writer when work appears and when a batch is full, not for every
        // outcome: at thousands a second, a wake-up each is a context switch each.
        if before == 0 || (before < Self.gatherTarget && after >= Self.gatherTarget) { wake.signal() }
    }

    /// Sends the heartbeat (and with it the worker's report) now rather than on schedule.
    func requestHeartbeat() {
        heartbeatRequested.store(true, ordering: .releasing)
        wake.signal()
    }

    func start() {
        let thread = Thread { [self] in
            self.loop()
            self.finished.signal()
        }
        thread.name = "completer"
        thread.start()
    }

    /// Writes what is left and stops; gives up after `timeout`, or once its
    /// connection's cutoff has passed (the leases then expire and the jobs run
    /// again elsewhere). Returns false when outcomes were left unwritten.
    func stop(timeout: Duration) -> Bool {
        stopping.store(true, ordering: .releasing)
        wake.signal()
        return finished.wait(timeout: .now() + timeout.dispatchTimeInterval) == .success && unwrittenCount == 0
    }

    /// Writes `batch`. Outcomes still unwritten when the connection fails go back to
    /// the front of the queue for the next try; a batch the server refuses for
    /// another reason is written one outcome at a time, and an outcome refused on
    /// its own is logged and dropped (its lease runs out and the job runs again),
    /// so one bad outcome cannot stop the rest.
    private func write(_ batch: [GrantJobOutcome], with queue: GrantQueue) throws {
        guard !batch.isEmpty else { return }
        do {
            let written = try queue.complete(batch, workerID: options.workerID)
            outstanding.subtract(batch.count, ordering: .releasing)
            if written.contains(where: { $0.state != "pending" }) { finishedJobs() }
            return
        } catch let error as PostgresError where !error.isConnectionFailure && batch.count > 1 {
            logger.warning("the database refused a batch of outcomes; writing them one by one", metadata: ["error": "\(error)"])
        } catch {
            pending.withLock { $0.insert(contentsOf: batch, at: 0) }
            throw error
        }
        for (index, outcome) in batch.enumerated() {
            do {
                try queue.complete([outcome], workerID: options.workerID)
            } catch let error as PostgresError where !error.isConnectionFailure {
                logger.error("dropping an outcome the database refuses; the job will run again",
                             metadata: ["job_id": "\(outcome.jobID)", "error": "\(error)"])
            } catch {
                pending.withLock { $0.insert(contentsOf: batch[index...], at: 0) }
                outstanding.subtract(index, ordering: .releasing)
                throw error
            }
        }
        outstanding.subtract(batch.count, ordering: .releasing)
    }

    private func gather() {
        let deadline = DispatchTime.now() + Self.gatherWindow
        // With no call in flight no outcome is coming to share the statement: write now
        // (one ordering key's next job waits for exactly this write).
        while !stopping.load(ordering: .acquiring), pending.withLock({ $0.count }) < Self.gatherTarget, inFlight.count > 0,
              DispatchTime.now() < deadline {
            _ = wake.wait(timeout: deadline)
        }
    }

    private func report() -> GrantQueue.WorkerReport {
        GrantQueue.WorkerReport(inFlight: inFlight.count, pause: pauseGate.report.map {
            ($0.reason, ContinuousClock.now.duration(to: $0.until))
        }, version: options.version)
    }

    private func loop() {
        let heartbeatInterval = max(options.lease / 3, .milliseconds(500))
        var queue: GrantQueue?
        var nextHeartbeat = ContinuousClock.now
        var nextDepthReading = ContinuousClock.now
        var reportedWithoutSecret: [String]?
        while true {
            gather()
            let stop = stopping.load(ordering: .acquiring)
            // Bounded statements: a backlog (after an outage, say) goes out in chunks.
            let batch = pending.withLock { pending -> [GrantJobOutcome] in
                let batch = Array(pending.prefix(Self.maxBatch))
                pending.removeFirst(batch.count)
                return batch
            }
            if stop && batch.isEmpty { break }
            do {
                let active = try queue ?? GrantQueue(configuration: configuration, logger: logger)
                queue = active
                try write(batch, with: active)
                if heartbeatRequested.exchange(false, ordering: .acquiring) || ContinuousClock.now >= nextHeartbeat {
                    try active.heartbeat(workerID: options.workerID, host: host, pid: pid, report: report())
                    let withoutSecret = appsWithoutSecret()
                    if withoutSecret != reportedWithoutSecret {
                        try active.reportAppsWithoutSecret(workerID: options.workerID, apps: withoutSecret)
                        reportedWithoutSecret = withoutSecret
                    }
                    try active.extendLeases(jobIDs: inFlight.ids + unwrittenJobIDs, workerID: options.workerID, lease: options.lease)
                    let rescued = try active.rescueExpiredLeases()
                    if !rescued.isEmpty {
                        logger.warning("took back jobs whose worker stopped renewing its lease", metadata: ["jobs": "\(rescued.count)"])
                    }
                    nextHeartbeat = ContinuousClock.now + heartbeatInterval
                }
                health.succeeded(reconnectCount: active.reconnectCount)
                if options.reportQueueDepth, ContinuousClock.now >= nextDepthReading {
                    // A count over the backlog: not on every heartbeat, and never a reason to
                    // treat the database as down (the gauge just keeps its last value).
                    if let depth = try? active.dueJobCount() { metrics.queueDepth.record(depth) }
                    metrics.callsInFlight.record(inFlight.count)
                    nextDepthReading = ContinuousClock.now + Self.queueDepthInterval
                }
            } catch {
                // A broken session is re-established by the connection itself before its next statement.
                let delay = health.failed(error, during: "writing outcomes")
                // Past the shutdown cutoff no write can happen any more: give up (stop() reports what is left).
                let cutoff = configuration.cutoff?.deadline
                if let cutoff, cutoff <= .now { break }
                // Back off for the whole delay, also while stopping (no tight reconnect loop), but
                // not past the cutoff: submissions and the stop signal `wake`, and must not cut it short.
                let end = cutoff.map { min(ContinuousClock.now + delay, $0) } ?? ContinuousClock.now + delay
                while ContinuousClock.now < end {
                    _ = wake.wait(timeout: .now() + ContinuousClock.now.duration(to: end).dispatchTimeInterval)
                }
                continue
            }
            if stop || pending.withLock({ !$0.isEmpty }) { continue }
            let untilHeartbeat = max(.zero, ContinuousClock.now.duration(to: nextHeartbeat))
            _ = wake.wait(timeout: .now() + untilHeartbeat.dispatchTimeInterval)
        }
        if let queue {
            try? queue.deregisterWorker(id: options.workerID)
            queue.close()
        }
    }
}
