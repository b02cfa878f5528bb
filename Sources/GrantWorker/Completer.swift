import Dispatch
import Foundation
import GrantQueue
import Logging
import Postgres
import QueueHotPath
import Synchronization

/// Writes outcomes back in batches, on its own thread and connection (leases
/// and the heartbeat are the `LeaseKeeper`'s, so a write that waits holds none).
///
/// Outcomes wait in memory until written: while the database is down, or refuses
/// a statement for a reason that passes (a deadlock, a lock or statement timeout,
/// a serialization failure, a shutdown), they pile up here and go out once it
/// answers again. A batch refused for what it holds is split until the outcome
/// that fails is found; that one is written in a plainer form or given back, and
/// logged with its job id, so one bad outcome never holds the rest and is never
/// retried for ever (a lease that expired meanwhile makes the fenced write a
/// no-op, and the job simply runs again).
final class Completer: Sendable {
    private let pending = Mutex<[GrantJobOutcome]>([])
    /// The batch being written now: still `running` in the table, its leases kept.
    private let writing = Mutex<[Int64]>([])
    /// Submitted but not yet acknowledged by the database.
    private let outstanding = Atomic<Int>(0)
    private let thread = BackgroundThread(name: "completer")

    private let configuration: PostgresConfiguration
    private let options: WorkerOptions
    private let inFlight: InFlightJobs
    /// Called after a write that finished jobs (see `ProducerWakeUp`).
    private let finishedJobs: @Sendable () -> Void
    let health: DatabaseHealth
    private let logger: Logger

    init(configuration: PostgresConfiguration, options: WorkerOptions, inFlight: InFlightJobs,
         finishedJobs: @escaping @Sendable () -> Void, health: DatabaseHealth, logger: Logger) {
        self.configuration = configuration
        self.options = options
        self.inFlight = inFlight
        self.finishedJobs = finishedJobs
        self.health = health
        self.logger = logger
    }

    /// Most outcomes written by one statement.
    static let maxBatch = 1000
    /// How long outcomes may gather before a write, and how many end the wait early:
    /// a statement costs about as much for 50 outcomes as for 5, so at thousands
    /// of calls a second this halves the database's work for a few ms of delay.
    static let gatherWindow: DispatchTimeInterval = .milliseconds(3)
    static let gatherTarget = 200

    var unwrittenCount: Int { outstanding.load(ordering: .acquiring) }

    /// Jobs whose outcome waits to be written: still `running` in the table, so
    /// their leases are extended like those of calls in flight.
    var unwrittenJobIDs: [Int64] { pending.withLock { $0.map(\.jobID) } + writing.withLock { $0 } }

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
        if before == 0 || (before < Self.gatherTarget && after >= Self.gatherTarget) { thread.wake() }
    }

    func start() {
        thread.start { [self] in loop() }
    }

    /// Writes what is left and stops; gives up after `timeout`, or once its
    /// connection's cutoff has passed (the leases then expire and the jobs run
    /// again elsewhere). Returns false when outcomes were left unwritten.
    func stop(timeout: Duration) -> Bool {
        thread.stop(timeout: timeout) && unwrittenCount == 0
    }

    /// Writes `batch` (see `OutcomeWriter` for the rules), or throws a transient
    /// error with what is still unwritten of it back at the front of the queue.
    private func write(_ batch: [GrantJobOutcome], to store: some OutcomeStore) throws {
        guard !batch.isEmpty else { return }
        writing.withLock { $0 = batch.map(\.jobID) }
        defer { writing.withLock { $0 = [] } }
        let writer = OutcomeWriter(workerID: options.workerID, logger: logger)
        do throws(OutcomeWriter.Interrupted) {
            settle(try writer.write(batch, to: store))
        } catch {
            settle(error.partial)
            pending.withLock { $0.insert(contentsOf: error.unwritten, at: 0) }
            throw error.error
        }
    }

    private func settle(_ result: OutcomeWriter.Result) {
        outstanding.subtract(result.settled, ordering: .releasing)
        if result.finishedJobs { finishedJobs() }
        // Counted apart from the database's health: it answers, and refuses these rows.
        for _ in result.writtenPlain + result.givenUp { health.outcomeRefused() }
    }

    private func gather() {
        let deadline = DispatchTime.now() + Self.gatherWindow
        // With no call in flight no outcome is coming to share the statement: write now
        // (one ordering key's next job waits for exactly this write).
        while !thread.isStopping, pending.withLock({ $0.count }) < Self.gatherTarget, inFlight.count > 0,
              DispatchTime.now() < deadline {
            thread.wait(until: deadline)
        }
    }

    private func loop() {
        var queue: GrantQueue?
        while true {
            gather()
            let stop = thread.isStopping
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
                try write(batch, to: active)
                health.succeeded(reconnectCount: active.reconnectCount)
            } catch {
                // Transient: everything is kept. A broken session is re-established by the
                // connection itself before its next statement.
                let delay = health.failed(error, during: "writing outcomes")
                // Past the shutdown cutoff no write can happen any more: give up (stop() reports what is left).
                let cutoff = configuration.cutoff?.deadline
                if let cutoff, cutoff <= .now { break }
                // Back off for the whole delay, also while stopping (no tight retry loop), but
                // not past the cutoff: submissions and the stop signal `wake`, and must not cut it short.
                let end = cutoff.map { min(ContinuousClock.now + delay, $0) } ?? ContinuousClock.now + delay
                while ContinuousClock.now < end {
                    thread.wait(ContinuousClock.now.duration(to: end))
                }
                continue
            }
            if stop || pending.withLock({ !$0.isEmpty }) { continue }
            thread.waitForWake()
        }
        queue?.close()
    }
}
