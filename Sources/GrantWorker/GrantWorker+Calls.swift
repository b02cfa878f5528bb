import DingTalk
import Foundation
import GrantQueue

extension GrantWorker {
    func call(_ job: ClaimedGrantJob) {
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
    func release(_ jobs: [ClaimedGrantJob], until: Date) {
        let released = jobs.filter { inFlight.remove($0) != nil }
        returnSlots(released.count)
        handBack(released, until: until)
    }

    /// Jobs given back unsent or unfinished: pending again from `until`, their attempt not used.
    func handBack(_ jobs: [ClaimedGrantJob], until: Date) {
        guard !jobs.isEmpty else { return }
        count(.released(at: until), code: nil, times: jobs.count)
        completer.submit(jobs.map {
            GrantJobOutcome(jobID: $0.id, attempt: $0.attempt, disposition: .released(at: until), startedAt: Date(), reachedAPI: false)
        })
    }
}
