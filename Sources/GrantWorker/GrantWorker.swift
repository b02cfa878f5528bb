import DingTalk
import Dispatch
import Foundation
import GrantQueue
import Logging
import Postgres
import Synchronization

/// One `visibility-worker run` process: claims jobs, calls DingTalk under a
/// Dispatch semaphore that bounds the calls in flight, and hands outcomes to
/// the completer.
///
/// Threads: `run()` is the producer (claim loop, with the LISTEN connection);
/// the completer has its own thread and connection; API calls run as tasks on
/// the HTTP client's event loops. A `DispatchSemaphore` with `concurrency`
/// permits is the only gate: the producer takes a permit per job before it
/// claims, each call returns it when it finishes, so neither calls nor threads
/// can grow without bound.
public final class GrantWorker: Sendable {
    public let options: WorkerOptions
    public let counters = WorkerCounters()
    let metrics = WorkerMetrics()
    let configuration: PostgresConfiguration
    let client: DingTalkClient
    let logger: Logger

    let slots: DispatchSemaphore
    let inFlight = InFlightJobs()
    let pauseGate = PauseGate()
    let rateLimiter: RateLimiter
    let policy: OutcomePolicy
    let health: DatabaseHealth
    let completer: Completer
    let pruner: Pruner?
    private let stopRequested = Atomic<Int>(0)
    private let stopSignal = DispatchSemaphore(value: 0)

    public init(options: WorkerOptions, database: PostgresConfiguration, client: DingTalkClient, logger: Logger) {
        self.options = options
        self.configuration = database
        self.client = client
        self.logger = logger
        slots = DispatchSemaphore(value: options.concurrency)
        rateLimiter = RateLimiter(rate: options.qps)
        policy = OutcomePolicy(options: options)
        health = DatabaseHealth(logger: logger)
        let host = ProcessInfo.processInfo.hostName
        completer = Completer(configuration: database, options: options, inFlight: inFlight, pauseGate: pauseGate, health: health,
                              metrics: metrics, logger: logger, host: host, pid: ProcessInfo.processInfo.processIdentifier)
        pruner = options.retention.map { Pruner(configuration: database, retention: $0, interval: options.pruneInterval, logger: logger) }
    }

    /// Why the worker cannot use its database right now; `nil` while it can (for `/healthz`).
    public var databaseProblem: String? { health.problem }

    /// First call: stop claiming and drain. Second call: stop waiting for in-flight calls.
    public func requestStop() {
        stopRequested.add(1, ordering: .sequentiallyConsistent)
        stopSignal.signal()
    }

    var isStopping: Bool { stopRequested.load(ordering: .sequentiallyConsistent) > 0 }

    /// Works until `requestStop()` (or, with `untilEmpty`, until the queue is
    /// empty), then drains. Throws only if the database cannot be reached at start.
    public func run() throws {
        let connection = try PostgresConnection(configuration: configuration, logger: logger)
        try SchemaMigrator.checkSchema(connection)
        let queue = GrantQueue(connection: connection)
        try connection.listen(GrantQueue.notificationChannel)
        try queue.registerWorker(id: options.workerID, host: ProcessInfo.processInfo.hostName,
                                 pid: ProcessInfo.processInfo.processIdentifier, version: options.version)
        completer.start()
        pruner?.start()
        logger.notice("worker started", metadata: [
            "worker_id": "\(options.workerID)", "version": "\(options.version ?? "unknown")", "concurrency": "\(options.concurrency)",
            "qps": "\(options.qps.map { String($0) } ?? "unlimited")", "batch_size": "\(options.batchSize)",
        ])

        produce(queue)

        logger.notice("draining", metadata: ["in_flight": "\(inFlight.count)"])
        pruner?.stop(timeout: .seconds(5))
        drain()
        let totals = counters.snapshot
        logger.notice("worker stopped", metadata: [
            "claimed": "\(totals.claimed)", "succeeded": "\(totals.succeeded)", "failed": "\(totals.failed)",
            "retried": "\(totals.retried)", "released": "\(totals.released)",
        ])
        connection.close()
    }

    // MARK: Producer

    /// Waits `duration`, or less if a stop is requested; false when stopping.
    private func sleepUnlessStopping(_ duration: Duration) -> Bool {
        guard !isStopping else { return false }
        if duration > .zero, stopSignal.wait(timeout: .now() + duration.dispatchTimeInterval) == .success {
            stopSignal.signal()  // leave the stop visible to every later wait
            return false
        }
        return !isStopping
    }

    private func produce(_ queue: GrantQueue) {
        let fleetLimiter = options.globalQPS.map { FleetRateLimiter(appKey: options.rateBucketKey, cap: $0) }
        while !isStopping {
            if let pause = pauseGate.active {
                _ = sleepUnlessStopping(ContinuousClock.now.duration(to: pause.until))
                continue
            }
            if let ended = pauseGate.takeExpired() {
                logger.notice("pause over; checking with one call", metadata: ["paused_for": "\(ended.reason)"])
            }
            var wanted = min(options.batchSize, rateLimiter.capacity(within: .seconds(1)), fleetLimiter?.claimLimit ?? .max)
            if pauseGate.isProbing {
                // One probe call at a time until the API answers normally again.
                guard inFlight.count == 0 else {
                    _ = sleepUnlessStopping(.milliseconds(50))
                    continue
                }
                wanted = 1
            }
            // Backpressure: do not run ahead of the database by more than a few batches of outcomes.
            if completer.unwrittenCount > max(4 * options.batchSize, 2 * Completer.maxBatch) {
                _ = sleepUnlessStopping(.milliseconds(5))
                continue
            }
            // One permit first (blocking), then more as calls finish, up to the batch size, for at
            // most a couple of milliseconds: one claim of many jobs costs about what one of a few does.
            guard slots.wait(timeout: .now() + .milliseconds(250)) == .success else { continue }
            var held = 1 + takeFreeSlots(upTo: wanted - 1)
            if held < wanted {
                // Let finishing calls return their permits while this thread sleeps: a permit
                // returned to a semaphore nobody waits on costs no wake-up, one handed to a
                // waiting thread costs a context switch.
                _ = sleepUnlessStopping(.milliseconds(2))
                held += takeFreeSlots(upTo: wanted - held)
            }

            let jobs: [ClaimedGrantJob]
            do {
                jobs = try queue.claim(workerID: options.workerID, limit: held, lease: options.lease)
                health.succeeded()
            } catch {
                returnSlots(held)
                _ = sleepUnlessStopping(health.failed(error, during: "claiming jobs"))
                continue
            }
            returnSlots(held - jobs.count)
            if jobs.isEmpty {
                if options.untilEmpty, queueIsDrained(queue) { break }
                waitForWork(queue)
                continue
            }
            metrics.callsInFlight.record(inFlight.add(jobs))
            counters.update { $0.claimed += jobs.count }
            metrics.claimed.increment(by: jobs.count)
            // The tighter of this process's own rate and the fleet's budget; 0 when neither caps it.
            let allowed = [rateLimiter.currentRate, fleetLimiter?.rate].compactMap { $0 }.min() ?? 0
            metrics.allowedRate.record(allowed)
            for (index, job) in jobs.enumerated() {
                if let fleetLimiter {
                    do {
                        try fleetLimiter.acquire(queue) { sleepUnlessStopping($0) }
                    } catch {
                        _ = sleepUnlessStopping(health.failed(error, during: "taking fleet rate tokens"))
                        release(Array(jobs[index...]), until: Date())
                        break
                    }
                }
                let wait = rateLimiter.reserve()
                if wait > .zero { _ = sleepUnlessStopping(wait) }
                let pause = pauseGate.active
                if isStopping || pause != nil {
                    // Not sent: hand the rest back without using an attempt.
                    let resumeAt = pause.map { Date().addingTimeInterval(ContinuousClock.now.duration(to: $0.until).seconds) }
                    release(Array(jobs[index...]), until: resumeAt ?? Date())
                    break
                }
                call(job)
            }
        }
    }

    /// Takes permits that are free now, without waiting.
    private func takeFreeSlots(upTo limit: Int) -> Int {
        var taken = 0
        while taken < limit, slots.wait(timeout: .now()) == .success { taken += 1 }
        return taken
    }

    private func returnSlots(_ count: Int) {
        for _ in 0..<max(0, count) { slots.signal() }
    }

    /// Idle: sleep on the LISTEN socket until an insert notifies, or the poll interval passes.
    private func waitForWork(_ queue: GrantQueue) {
        let slice = min(options.pollInterval, .milliseconds(500))
        do {
            _ = try queue.connection.waitForNotifications(timeout: slice)
        } catch {
            _ = sleepUnlessStopping(health.failed(error, during: "waiting for notifications"))
        }
    }

    /// For `--until-empty`: nothing here in flight or unwritten, nothing due soon,
    /// and nothing running elsewhere (it may come back as a retry, or its worker
    /// may have died and the job come back when its lease runs out).
    private func queueIsDrained(_ queue: GrantQueue) -> Bool {
        guard inFlight.count == 0, completer.unwrittenCount == 0 else { return false }
        return (try? queue.hasUnfinishedJobs(dueWithin: options.backoff.maximum)) == false
    }

    // MARK: Calls

    private func call(_ job: ClaimedGrantJob) {
        let grant = VisibilityGrant(toCorpIds: job.toCorpIds, optUserId: job.optUserId, fields: job.fields)
        let startedAt = Date()
        Task { [self] in
            let clockStart = ContinuousClock.now
            let result = await client.apply(grant)
            metrics.callDuration.recordNanoseconds((ContinuousClock.now - clockStart).wholeNanoseconds)
            finish(job, result: result, startedAt: startedAt)
            slots.signal()
        }
    }

    private func finish(_ job: ClaimedGrantJob, result: APICallResult, startedAt: Date) {
        let (outcome, action) = policy.decide(result, job: job, startedAt: startedAt)
        // Released at shutdown while the call ran: the job is no longer ours to complete.
        guard let stillInFlight = inFlight.remove(job, then: { completer.submit(outcome) }) else { return }
        metrics.callsInFlight.record(stillInFlight)
        if action == .none || action == .slowDown, pauseGate.answeredNormally() {
            logger.notice("resuming calls: DingTalk answered normally")
            completer.requestHeartbeat()
        }
        switch action {
        case .none:
            if result.outcomeClass == .success { rateLimiter.succeeded() }
        case .slowDown:
            rateLimiter.throttled()
            metrics.throttled.increment()
        case .pause(let duration, let reason):
            if pauseGate.pause(for: duration, reason: reason) {
                logger.error("pausing API calls", metadata: ["reason": "\(reason)", "for": "\(duration)"])
                completer.requestHeartbeat()
            }
        }
        count(outcome.disposition, code: outcome.errorCode)
        if case .failed = outcome.disposition {
            logger.debug("job failed", metadata: ["job_id": "\(job.id)", "code": "\(outcome.errorCode ?? "-")"])
        }
    }

    /// Counts outcomes for the exit summary and the metrics alike.
    private func count(_ disposition: GrantJobOutcome.Disposition, code: String?, times: Int = 1) {
        counters.update { counters in
            switch disposition {
            case .succeeded: counters.succeeded += times
            case .failed: counters.failed += times
            case .retry: counters.retried += times
            case .released: counters.released += times
            }
        }
        switch disposition {
        case .succeeded: metrics.succeeded.increment(by: times)
        case .failed: metrics.failed(code: code, times: times)
        case .retry: metrics.retried(code: code, times: times)
        case .released: metrics.released.increment(by: times)
        }
    }

    /// Claimed jobs that were not sent (pause, stop, a fleet-budget error): still ours.
    private func release(_ jobs: [ClaimedGrantJob], until: Date) {
        let released = jobs.filter { inFlight.remove($0) != nil }
        returnSlots(released.count)
        handBack(released, until: until)
    }

    /// Jobs given back unsent or unfinished: pending again from `until`, their attempt not used.
    private func handBack(_ jobs: [ClaimedGrantJob], until: Date) {
        guard !jobs.isEmpty else { return }
        count(.released(at: until), code: nil, times: jobs.count)
        completer.submit(jobs.map {
            GrantJobOutcome(jobID: $0.id, attempt: $0.attempt, disposition: .released(at: until), startedAt: Date(), reachedAPI: false)
        })
    }

    // MARK: Shutdown

    private func drain() {
        let deadline = ContinuousClock.now + options.drainTimeout
        // Every permit back means every call has finished.
        var returned = 0
        while returned < options.concurrency {
            if stopRequested.load(ordering: .sequentiallyConsistent) > 1 { break }
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { break }
            if slots.wait(timeout: .now() + min(remaining, .milliseconds(200)).dispatchTimeInterval) == .success {
                returned += 1
            }
        }
        returnSlots(returned)
        let unfinished = inFlight.removeAll()
        if !unfinished.isEmpty {
            logger.warning("drain timeout: handing unfinished jobs back", metadata: ["jobs": "\(unfinished.count)"])
            handBack(unfinished, until: Date())
        }
        if !completer.stop(timeout: max(options.lease, .seconds(5))) {
            logger.error("could not write every outcome before exiting; their leases will expire and the jobs run again",
                         metadata: ["unwritten": "\(completer.unwrittenCount)"])
        }
    }
}
