import DingTalk
import Foundation
import GrantQueue
import QueueHotPath

extension GrantWorker {
    /// Sends `job` at `slot` (its rate and budget allow it then), unless a stop or a
    /// pause (the host's or the app's) came meanwhile, or the task woke after
    /// `latest` (a fleet slot missed: sent now, it would crowd the calls of the slots
    /// after it): then it goes back unsent, due at once, no attempt used.
    func call(_ job: ClaimedGrantJob, app: AppContext, at slot: ContinuousClock.Instant, latest: ContinuousClock.Instant? = nil) {
        let grant = VisibilityGrant(toCorpIds: job.toCorpIds, optUserId: job.optUserId, fields: job.fields)
        Task { [self] in
            // An absolute time, with little tolerance: the fleet's budget counts on calls keeping their slots.
            if slot > .now { try? await Task.sleep(until: slot, tolerance: .microseconds(500), clock: .continuous) }
            if isStopping || pauseGate.active != nil || app.pauseGate.active != nil || latest.map({ ContinuousClock.now > $0 }) == true
                || !leaseOutlastsACall(job) {
                // Not sent: back without using an attempt (release returns the permit).
                let pause = pauseGate.active ?? app.pauseGate.active
                let resumeAt = pause.map { Date().addingTimeInterval(ContinuousClock.now.duration(to: $0.until).seconds) }
                release([job], app: app, until: resumeAt ?? Date())
                return
            }
            let startedAt = Date()
            let clockStart = ContinuousClock.now
            let span = AttemptSpan(for: job)
            // The roster only hands out apps with a client; a missing one reads as a config problem.
            let result = await app.client?.apply(grant, context: span.context)
                ?? APICallResult(outcomeClass: .config, code: LocalErrorCode.missingSecret, reachedAPI: false)
            metrics.callDuration.recordNanoseconds((ContinuousClock.now - clockStart).wholeNanoseconds)
            finish(job, app: app, result: result, startedAt: startedAt, span: span)
            slots.signal()
        }
    }

    /// A call starts only while the job's lease, as this process last renewed it,
    /// has a quarter of `--lease` left (renewals come every third): a lease that ran out (the database was
    /// unreachable for renewals, say) may already be another worker's, and a call
    /// made now could land after that worker's, and after the next job of its key.
    private func leaseOutlastsACall(_ job: ClaimedGrantJob) -> Bool {
        guard let since = inFlight.leaseStart(of: job) else { return false }
        return ContinuousClock.now < since + options.lease - options.lease / 4
    }

    private func finish(_ job: ClaimedGrantJob, app: AppContext, result: APICallResult, startedAt: Date, span: AttemptSpan) {
        let (outcome, action) = policy.decide(result, job: job, startedAt: startedAt)
        span.end(with: outcome)
        // Released at shutdown while the call ran: the job is no longer ours to complete.
        guard let stillInFlight = inFlight.remove(job, then: { completer.submit(outcome) }) else { return }
        app.inFlight.subtract(1, ordering: .relaxed)
        metrics.callsInFlight.record(stillInFlight)
        let wasProbe = app.probing.exchange(false, ordering: .acquiring)
        if action == .none || action == .slowDown {
            if pauseGate.answeredNormally() {
                logger.notice("resuming calls: DingTalk answered normally")
                leaseKeeper.requestHeartbeat()
            }
            if wasProbe { app.requestResume() }
        }
        switch action {
        case .none:
            if result.outcomeClass == .success { app.rateLimiter.succeeded() }
        case .slowDown:
            app.rateLimiter.throttled()
            metrics.throttled(app: app.name)
        case .pause(let duration, let reason):
            if pauseGate.pause(for: duration, reason: reason) {
                logger.error("pausing API calls for every app on this host", metadata: ["reason": "\(reason)", "for": "\(duration)"])
                leaseKeeper.requestHeartbeat()
            }
        case .pauseApp(let duration, let reason):
            if app.pauseGate.pause(for: duration, reason: reason) {
                logger.error("pausing API calls for the app, in the whole fleet", metadata: [
                    "app": "\(app.name)", "reason": "\(reason)", "for": "\(duration)",
                ])
                app.requestPause(for: duration, reason: reason)
            }
        }
        count(outcome.disposition, code: outcome.errorCode, app: app.name)
        if case .failed = outcome.disposition {
            logger.debug("job failed", metadata: ["job_id": "\(job.id)", "code": "\(outcome.errorCode ?? "-")"])
        }
    }

    /// Counts outcomes for the exit summary and the metrics alike.
    private func count(_ disposition: GrantJobOutcome.Disposition, code: String?, app: String, times: Int = 1) {
        if case .released = disposition {} else { activity.outcome(app: app) }
        counters.update { counters in
            switch disposition {
            case .succeeded: counters.succeeded += times
            case .failed: counters.failed += times
            case .retry: counters.retried += times
            case .released: counters.released += times
            }
        }
        switch disposition {
        case .succeeded:
            metrics.succeeded.increment(by: times)
            metrics.outcome(app: app, "succeeded", times: times)
        case .failed:
            metrics.failed(code: code, times: times)
            metrics.outcome(app: app, "failed", times: times)
        case .retry:
            metrics.retried(code: code, times: times)
            metrics.outcome(app: app, "retried", times: times)
        case .released:
            metrics.released.increment(by: times)
            metrics.outcome(app: app, "released", times: times)
        }
    }

    /// Claimed jobs that were not sent (pause, stop): still ours.
    func release(_ jobs: [ClaimedGrantJob], app: AppContext, until: Date) {
        let released = jobs.filter { inFlight.remove($0) != nil }
        app.inFlight.subtract(released.count, ordering: .relaxed)
        returnSlots(released.count)
        handBack(released, until: until)
    }

    /// Jobs given back unsent or unfinished: pending again from `until`, their attempt not used.
    func handBack(_ jobs: [ClaimedGrantJob], until: Date) {
        guard !jobs.isEmpty else { return }
        for (app, ofApp) in Dictionary(grouping: jobs, by: \.app) {
            count(.released(at: until), code: nil, app: app, times: ofApp.count)
        }
        completer.submit(jobs.map {
            GrantJobOutcome(jobID: $0.id, attempt: $0.attempt, disposition: .released(at: until), startedAt: Date(), reachedAPI: false)
        })
    }
}
