import DingTalk
import Dispatch
import Foundation
import GrantQueue
import Logging
import Postgres
import QueueHotPath
import Synchronization

/// One `visibility-worker run` process: claims jobs, calls DingTalk under a
/// Dispatch semaphore that bounds the calls in flight, and hands outcomes to
/// the completer.
///
/// Threads: `run()` is the producer (claim loop, with the LISTEN connection);
/// the completer and the lease keeper each have their own thread and connection; API calls run as tasks on
/// Swift's global concurrent executor (their network I/O on AsyncHTTPClient's
/// event loops), where nothing may block. A `DispatchSemaphore` with `concurrency`
/// permits is the only gate: the producer takes a permit per job before it
/// claims, each call returns it when it finishes, so neither calls nor threads
/// can grow without bound. See docs/DESIGN.md, Threads.
public final class GrantWorker: Sendable {
    public let options: WorkerOptions
    public let counters = WorkerCounters()
    let metrics = WorkerMetrics()
    /// Each app's last outcome and allowed rate here, for the heartbeat and the app signals.
    let activity = AppActivity()
    /// What each app's context is built from (see `AppRoster`).
    let credentials: AppCredentials
    let logger: Logger

    let slots: DispatchSemaphore
    let inFlight = InFlightJobs()
    /// Host-wide pauses (DingTalk's per-IP ban, an unreachable API); each app has its own too.
    let pauseGate = PauseGate()
    /// Set by SIGHUP (`reloadSecrets()`), taken by the producer.
    let secretsReloadRequested = Atomic<Bool>(false)
    /// Written by the producer, reported by the completer's heartbeat.
    let appsWithoutSecret = AppsWithoutSecret()
    let policy: OutcomePolicy
    let completer: Completer
    let leaseKeeper: LeaseKeeper
    let pruner: Pruner?
    /// The producer's connection (claims, LISTEN, the fleet budget) and its health.
    let claimsDatabase: PostgresConfiguration
    let claimsHealth: DatabaseHealth
    /// Past these, no database wait goes on (see `beginShutdown`): one for the
    /// producer's connection, one for the completer's and the pruner's.
    let claimsCutoff = PostgresCutoff()
    let writesCutoff = PostgresCutoff()
    let stopRequested = Atomic<Int>(0)
    let stopSignal = DispatchSemaphore(value: 0)
    /// The completer's "jobs finished" for a producer without notifications.
    let wakeUp = ProducerWakeUp()
    let shutdownStartedAt = Mutex<ContinuousClock.Instant?>(nil)

    public init(options: WorkerOptions, database: PostgresConfiguration, credentials: AppCredentials, logger: Logger) {
        self.options = options
        self.credentials = credentials
        self.logger = logger
        slots = DispatchSemaphore(value: options.concurrency)
        policy = OutcomePolicy(options: options)
        claimsDatabase = database.with(cutoff: claimsCutoff)
        claimsHealth = DatabaseHealth(role: "claims", database: database.displayName, logger: logger)
        let writesDatabase = database.with(cutoff: writesCutoff)
        let appsWithoutSecret = self.appsWithoutSecret
        let wakeUp = self.wakeUp
        let completer = Completer(configuration: writesDatabase, options: options, inFlight: inFlight, finishedJobs: { wakeUp.raise() },
                                  health: DatabaseHealth(role: "outcomes", database: database.displayName, logger: logger), logger: logger)
        self.completer = completer
        leaseKeeper = LeaseKeeper(configuration: writesDatabase, options: options, inFlight: inFlight,
                                  unwrittenJobIDs: { completer.unwrittenJobIDs }, pauseGate: pauseGate,
                                  appsWithoutSecret: { appsWithoutSecret.current },
                                  health: DatabaseHealth(role: "leases", database: database.displayName, logger: logger),
                                  activity: activity, metrics: metrics, logger: logger, host: ProcessInfo.processInfo.hostName,
                                  pid: ProcessInfo.processInfo.processIdentifier)
        pruner = options.retention.map { Pruner(configuration: writesDatabase, retention: $0, interval: options.pruneInterval, logger: logger) }
    }

    /// Why the worker cannot use its database right now; `nil` while it can (for
    /// `/healthz`). Never waits on the database: it reads what the connections recorded.
    public var databaseProblem: String? { claimsHealth.problem ?? completer.health.problem ?? leaseKeeper.health.problem }

    /// First call: stop claiming and drain. Second call: stop waiting for in-flight calls.
    public func requestStop() {
        stopRequested.add(1, ordering: .sequentiallyConsistent)
        beginShutdown()
        stopSignal.signal()
        wakeUp.raise()
    }

    /// SIGHUP: re-read the app secrets folder before the next claim (the producer
    /// sees the request when its current wait ends, within half a second when idle).
    public func reloadSecrets() {
        secretsReloadRequested.store(true, ordering: .releasing)
    }

    var isStopping: Bool { stopRequested.load(ordering: .sequentiallyConsistent) > 0 }

    /// Works until `requestStop()` (or, with `untilEmpty`, until the queue is
    /// empty), then drains. Throws if the database cannot be reached at start, or
    /// when the setup turns out not to work at all (a pooler in the wrong mode).
    public func run() throws {
        let queue = try GrantQueue(configuration: claimsDatabase, logger: logger)
        defer { queue.close() }
        let notified = try start(queue)
        completer.start()
        leaseKeeper.start()
        pruner?.start()
        logger.notice("worker started", metadata: [
            "worker_id": "\(options.workerID)", "version": "\(options.version ?? "unknown")", "concurrency": "\(options.concurrency)",
            "qps": "\(options.qps.map { String($0) } ?? "unlimited")", "batch_size": "\(options.batchSize)",
            "pool_mode": "\(claimsDatabase.poolMode.rawValue)", "new_jobs": "\(notified ? "notified" : "polled")",
        ])

        let fault = produce(queue, notified: notified)

        beginShutdown()
        logger.notice("draining", metadata: ["in_flight": "\(inFlight.count)"])
        // Pruning is optional work: it gets a moment to finish its batch, no more.
        pruner?.stop(timeout: .seconds(1))
        drain()
        let totals = counters.snapshot
        logger.notice("worker stopped", metadata: [
            "claimed": "\(totals.claimed)", "succeeded": "\(totals.succeeded)", "failed": "\(totals.failed)",
            "retried": "\(totals.retried)", "released": "\(totals.released)",
        ])
        if let fault { throw fault }
    }
}

extension GrantWorker {
    /// Checks the schema, listens and registers. A session cut in the middle (a
    /// restart, a terminated backend) is retried on a fresh one a few times; a
    /// database that stays away, or a setup that cannot work, fails the start.
    private func start(_ queue: GrantQueue) throws -> Bool {
        var retries = 0
        while true {
            do {
                try SchemaMigrator.checkSchema(queue)
                let notified = try queue.listenForNewJobs()
                try queue.registerWorker(id: options.workerID, host: ProcessInfo.processInfo.hostName,
                                         pid: ProcessInfo.processInfo.processIdentifier, version: options.version)
                return notified
            } catch let error as PostgresError where error.isConnectionFailure && retries < 5 {
                retries += 1
                guard sleepUnlessStopping(claimsHealth.failed(error, during: "starting")) else { throw error }
            } catch {
                throw DatabaseHealth.setupProblem(in: error).map(WorkerSetupError.init) ?? error
            }
        }
    }
}

/// The setup cannot work as configured; the worker stops instead of retrying forever.
public struct WorkerSetupError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

extension PostgresConfiguration {
    func with(cutoff: PostgresCutoff) -> PostgresConfiguration {
        var copy = self
        copy.cutoff = cutoff
        return copy
    }
}
