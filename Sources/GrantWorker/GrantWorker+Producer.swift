import DingTalk
import Dispatch
import Foundation
import GrantQueue

extension GrantWorker {
    /// The claim loop, on the producer thread: wait out pauses, take permits,
    /// claim a batch, dispatch it. Returns when stopping (or, with `untilEmpty`,
    /// when the queue is done); returns an error when the setup cannot work.
    func produce(_ queue: GrantQueue, notified: Bool) -> WorkerSetupError? {
        let fleetLimiter = options.globalQPS.map { FleetRateLimiter(appKey: options.rateBucketKey, cap: $0) }
        while !isStopping {
            if let fault = claimsHealth.fatalProblem ?? completer.health.fatalProblem {
                return WorkerSetupError(description: fault)
            }
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
            guard let held = takePermits(wanted) else { continue }

            let jobs: [ClaimedGrantJob]
            do {
                jobs = try queue.claim(workerID: options.workerID, limit: held, lease: options.lease)
                claimsHealth.succeeded(reconnectCount: queue.reconnectCount)
            } catch {
                returnSlots(held)
                _ = sleepUnlessStopping(claimsHealth.failed(error, during: "claiming jobs"))
                continue
            }
            returnSlots(held - jobs.count)
            if jobs.isEmpty {
                if options.untilEmpty, queueIsDrained(queue) { break }
                waitForWork(queue, notified: notified)
                continue
            }
            dispatch(jobs, queue: queue, fleetLimiter: fleetLimiter)
        }
        return nil
    }

    /// One permit first (waiting up to 250 ms), then more as calls finish, up to
    /// `wanted`, for at most a couple of milliseconds: one claim of many jobs costs
    /// about what one of a few does. Nil when no permit came.
    private func takePermits(_ wanted: Int) -> Int? {
        guard slots.wait(timeout: .now() + .milliseconds(250)) == .success else { return nil }
        var held = 1 + takeFreeSlots(upTo: wanted - 1)
        if held < wanted {
            // Let finishing calls return their permits while this thread sleeps: a permit
            // returned to a semaphore nobody waits on costs no wake-up, one handed to a
            // waiting thread costs a context switch.
            _ = sleepUnlessStopping(.milliseconds(2))
            held += takeFreeSlots(upTo: wanted - held)
        }
        return held
    }

    /// Sends a claimed batch, each call under this process's rate and the fleet's
    /// budget; what cannot be sent (a pause, a stop, a budget error) goes back unused.
    private func dispatch(_ jobs: [ClaimedGrantJob], queue: GrantQueue, fleetLimiter: FleetRateLimiter?) {
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
                    _ = sleepUnlessStopping(claimsHealth.failed(error, during: "taking fleet rate tokens"))
                    release(Array(jobs[index...]), until: Date())
                    return
                }
            }
            let wait = rateLimiter.reserve()
            if wait > .zero { _ = sleepUnlessStopping(wait) }
            let pause = pauseGate.active
            if isStopping || pause != nil {
                // Not sent: hand the rest back without using an attempt.
                let resumeAt = pause.map { Date().addingTimeInterval(ContinuousClock.now.duration(to: $0.until).seconds) }
                release(Array(jobs[index...]), until: resumeAt ?? Date())
                return
            }
            call(job)
        }
    }

    /// Waits `duration`, or less if a stop is requested; false when stopping.
    func sleepUnlessStopping(_ duration: Duration) -> Bool {
        guard !isStopping else { return false }
        if duration > .zero, stopSignal.wait(timeout: .now() + duration.dispatchTimeInterval) == .success {
            stopSignal.signal()  // leave the stop visible to every later wait
            return false
        }
        return !isStopping
    }

    /// Takes permits that are free now, without waiting.
    private func takeFreeSlots(upTo limit: Int) -> Int {
        var taken = 0
        while taken < limit, slots.wait(timeout: .now()) == .success { taken += 1 }
        return taken
    }

    func returnSlots(_ count: Int) {
        for _ in 0..<max(0, count) { slots.signal() }
    }

    /// Idle: sleep on the LISTEN socket until an insert notifies, or the poll
    /// interval passes; without notifications (transaction pool mode), just the poll.
    private func waitForWork(_ queue: GrantQueue, notified: Bool) {
        guard notified else {
            _ = sleepUnlessStopping(options.pollInterval)
            return
        }
        let slice = min(options.pollInterval, .milliseconds(500))
        do {
            try queue.waitForNewJobs(timeout: slice)
        } catch {
            _ = sleepUnlessStopping(claimsHealth.failed(error, during: "waiting for notifications"))
        }
    }

    /// For `--until-empty`: nothing here in flight or unwritten, nothing due soon,
    /// and nothing running elsewhere (it may come back as a retry, or its worker
    /// may have died and the job come back when its lease runs out).
    private func queueIsDrained(_ queue: GrantQueue) -> Bool {
        guard inFlight.count == 0, completer.unwrittenCount == 0 else { return false }
        return (try? queue.hasUnfinishedJobs(dueWithin: options.backoff.maximum)) == false
    }
}
