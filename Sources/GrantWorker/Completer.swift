import Dispatch
import Foundation
import GrantQueue
import Logging
import Postgres
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

    /// Writes `batch`, or throws a transient error with what is still unwritten of
    /// it back at the front of the queue for the next try. A batch refused for what
    /// it holds is split in halves, and halves again, down to the outcome that fails
    /// alone (`writeAlone`).
    private func write(_ batch: ArraySlice<GrantJobOutcome>, with queue: GrantQueue, splitting: Bool = false) throws {
        guard !batch.isEmpty else { return }
        writing.withLock { $0 = batch.map(\.jobID) }
        defer { writing.withLock { $0 = [] } }
        do {
            let written = try queue.complete(Array(batch), workerID: options.workerID)
            outstanding.subtract(batch.count, ordering: .releasing)
            if written.contains(where: { $0.state != "pending" }) { finishedJobs() }
        } catch let error as PostgresError where !error.isTransient {
            guard batch.count > 1 else {
                try writeAlone(batch[batch.startIndex], refused: error, with: queue)
                return
            }
            if !splitting {
                logger.warning("the database refused a batch of outcomes; finding the one it refuses",
                               metadata: ["outcomes": "\(batch.count)", "error": "\(error)"])
            }
            // Errors thrown here pass the catch below: each half puts back only its own.
            let middle = batch.startIndex + batch.count / 2
            try write(batch[..<middle], with: queue, splitting: true)
            try write(batch[middle...], with: queue, splitting: true)
        } catch {
            pending.withLock { $0.insert(contentsOf: batch, at: 0) }
            throw error
        }
    }

    /// One outcome the database refuses: written again without the texts it carried
    /// from the API (code, message, request id), the likeliest to break a rule; if
    /// even that is refused, given up: its lease runs out and the job runs again,
    /// on a new attempt, so a job whose every outcome is refused ends `failed` once
    /// its attempts are used up. Logged with the job id, and counted apart from the
    /// database's health (the database answers; it refuses this one row).
    private func writeAlone(_ outcome: GrantJobOutcome, refused error: PostgresError, with queue: GrantQueue) throws {
        let plain = GrantJobOutcome(jobID: outcome.jobID, attempt: outcome.attempt, disposition: outcome.disposition,
                                    startedAt: outcome.startedAt, reachedAPI: outcome.reachedAPI, httpStatus: outcome.httpStatus)
        do {
            let written = try queue.complete([plain], workerID: options.workerID)
            if written.contains(where: { $0.state != "pending" }) { finishedJobs() }
            logger.error("the database refused this outcome with the API's texts; written without them",
                         metadata: ["job_id": "\(outcome.jobID)", "error": "\(error)"])
        } catch let again as PostgresError where !again.isTransient {
            logger.error("the database refuses this job's outcome; it runs again when its lease expires",
                         metadata: ["job_id": "\(outcome.jobID)", "error": "\(again)"])
        }
        outstanding.subtract(1, ordering: .releasing)
        health.outcomeRefused()
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
                try write(batch[...], with: active)
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
