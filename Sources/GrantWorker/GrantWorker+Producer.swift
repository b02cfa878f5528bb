import DingTalk
import Dispatch
import Foundation
import GrantQueue
import QueueHotPath

extension GrantWorker {
    /// The claim loop, on the producer thread: wait out host-wide pauses, keep up
    /// with the apps table, and give the app whose turn it is its turn (`take`). Returns when stopping (or, with `untilEmpty`,
    /// when the queue is done); returns an error when the setup cannot work.
    func produce(_ queue: GrantQueue, notified: Bool) -> WorkerSetupError? {
        let roster = AppRoster(credentials: credentials, options: options, metrics: metrics, logger: logger)
        var nextNotificationCheck = ContinuousClock.now
        var nextDrainCheck = ContinuousClock.now
        var admission = ArrivalAdmission(interval: min(options.pollInterval, .milliseconds(250)))
        var staging = DueJobStaging()
        while !isStopping {
            if let fault = claimsHealth.fatalProblem ?? completer.health.fatalProblem ?? leaseKeeper.health.fatalProblem {
                return WorkerSetupError(description: fault)
            }
            // Host-wide pauses (the per-IP ban, an unreachable API) hold every app.
            if let pause = pauseGate.active {
                for (app, jobs) in roster.takeAllParked() { release(jobs, app: app, until: Date()) }
                _ = sleepUnlessStopping(ContinuousClock.now.duration(to: pause.until))
                continue
            }
            // A paused app's claimed jobs wait for no slot: back to pending, unsent.
            for (app, jobs) in roster.takeParked(where: { $0.pauseGate.active != nil }) { release(jobs, app: app, until: Date()) }
            if let ended = pauseGate.takeExpired() {
                logger.notice("pause over; checking with one call", metadata: ["paused_for": "\(ended.reason)"])
            }
            let turn: AppRoster.Turn?
            let candidates: Int
            let retryAfter: Duration
            do {
                if secretsReloadRequested.exchange(false, ordering: .acquiring) { reloadSecrets(roster, queue) }
                try roster.update(queue, workerID: options.workerID)
                if appsWithoutSecret.replace(with: roster.appsWithoutSecret) {
                    leaseKeeper.requestHeartbeat()  // so `status` says it soon
                }
                if notified, roster.hasIdleApps, ContinuousClock.now >= nextNotificationCheck {
                    // While other apps keep the producer busy, an insert for an idle app still gets
                    // its turn soon. Before the turn is chosen, so a notification taken here counts now.
                    if (try? queue.waitForNewJobs(timeout: .microseconds(1))) == true {
                        roster.wakeAll()
                        admission.soon()
                    }
                    nextNotificationCheck = ContinuousClock.now + .milliseconds(20)
                }
                (turn, candidates, retryAfter) = try roster.nextTurn(queue, workerID: options.workerID)
            } catch {
                _ = sleepUnlessStopping(claimsHealth.failed(error, during: "reading apps"))
                continue
            }
            // Keyed jobs that producers committed get their place in line (sql/017), one
            // pass per turn, so a bulk load's admission never holds other jobs' claims. A new
            // head may belong to an app the roster thought idle: it is woken.
            var admittedSome = false
            if admission.isDue(at: .now) {
                do {
                    let admitted = try queue.admitArrivals()
                    admission.record(admitted, at: .now)
                    if case .admitted(let count) = admitted, count > 0 {
                        roster.wakeAll()
                        admittedSome = true
                    }
                } catch {
                    _ = sleepUnlessStopping(claimsHealth.failed(error, during: "admitting keyed jobs"))
                    continue
                }
            }
            // Jobs queued for later join the claim index shortly before they fall due.
            if staging.isDue(at: .now) {
                do {
                    let moved = try queue.stageDueJobs()
                    staging.record(moved: moved, at: .now)
                    if moved > 0 { roster.wakeAll() }
                } catch {
                    _ = sleepUnlessStopping(claimsHealth.failed(error, during: "staging jobs queued for later"))
                    continue
                }
            }
            guard let turn else {
                if admittedSome { continue }
                // Every app waits: for its rate, its probe's answer, an insert or the poll.
                if options.untilEmpty, inFlight.count == 0, ContinuousClock.now >= nextDrainCheck {
                    if queueIsDrained(queue, apps: roster.servedApps) { break }
                    nextDrainCheck = ContinuousClock.now + .milliseconds(200)
                }
                if waitForWork(queue, notified: notified, upTo: min(retryAfter, admission.timeUntilDue(from: .now), staging.timeUntilDue(from: .now))) {
                    roster.wakeAll()
                    admission.soon()
                }
                continue
            }
            take(turn, candidates: candidates, roster: roster, queue: queue, notified: notified)
        }
        // Claimed jobs still waiting for a budget slot go back unsent.
        for (app, jobs) in roster.takeAllParked() { release(jobs, app: app, until: Date()) }
        return nil
    }

    /// One app's turn: size the claim to its rate, budget and probe, claim, and send
    /// (or park what its fleet budget has no slot for yet).
    private func take(_ turn: AppRoster.Turn, candidates: Int, roster: AppRoster, queue: GrantQueue, notified: Bool) {
        let app = turn.app
        // With several apps taking turns, a batch is sized to what its app can send in
        // a quarter of a second, so no app's calls wait long behind another's.
        let horizon: Duration = candidates > 1 ? .milliseconds(250) : .seconds(1)
        let rate = app.rateLimiter.available(within: horizon, chunk: options.batchSize)
        let fleetLimiter = roster.fleetLimiter(for: app)
        let probeTurn: Bool
        if case .probe = turn { probeTurn = true } else { probeTurn = false }
        let wanted: Int
        switch ClaimSize(batchSize: options.batchSize).decide(
            rate: rate, hostProbing: pauseGate.isProbing, callsInFlight: inFlight.count, probeTurn: probeTurn,
            unwrittenOutcomes: completer.unwrittenCount, fleetClaimSize: fleetLimiter?.claimSize) {
        case .appNotReady(let duration):
            roster.notReady(app, for: duration)
            return
        case .holdOff(let duration):
            _ = sleepUnlessStopping(duration)
            return
        case .claim(let size):
            wanted = size
        }
        // Jobs claimed earlier that still wait for a slot of the app's fleet budget go first.
        if fleetLimiter != nil, !roster.parked(app).isEmpty {
            sendWithinBudget(roster.takeParked(app), app: app, roster: roster, queue: queue)
            return
        }
        guard let held = takePermits(wanted) else { return }

        let jobs: [ClaimedGrantJob]
        let claimedAt = ContinuousClock.now
        do {
            jobs = try claim(app, limit: held, roster: roster, queue: queue)
            claimsHealth.succeeded(reconnectCount: queue.reconnectCount)
        } catch {
            returnSlots(held)
            _ = sleepUnlessStopping(claimsHealth.failed(error, during: "claiming jobs"))
            return
        }
        returnSlots(held - jobs.count)
        if jobs.isEmpty {
            roster.idle(app, for: notified ? min(options.pollInterval, .milliseconds(500)) : options.pollInterval)
            return
        }
        if case .probe = turn {
            app.probing.store(true, ordering: .releasing)
            logger.notice("the app's pause is over; checking with one call", metadata: ["app": "\(app.name)"])
        }
        admit(jobs, claimedAt: claimedAt, app: app, fleetLimiter: fleetLimiter)
        if fleetLimiter != nil {
            sendWithinBudget(jobs, app: app, roster: roster, queue: queue)
        } else {
            send(jobs, app: app)
        }
    }

    /// Claims after the app's cursor position, and from the start at once when
    /// nothing came after it (see `ClaimCursor`).
    private func claim(_ app: AppContext, limit: Int, roster: AppRoster, queue: GrantQueue) throws -> [ClaimedGrantJob] {
        var start = roster[cursorOf: app].start(at: .now)
        while true {
            let started = ContinuousClock.now
            let jobs = try queue.claim(workerID: options.workerID, limit: limit, lease: options.lease, app: app.name, after: start)
            let now = ContinuousClock.now
            roster[cursorOf: app].record(jobs, from: start, elapsed: started.duration(to: now), at: now)
            guard ClaimCursor.retryFromStart(after: start, claimed: jobs.count) else { return jobs }
            start = .start
        }
    }

    /// Reserves slots of the app's fleet budget for `jobs` and sends as many; the
    /// rest wait (parked, their lease kept) for the app's next turn. A paused app's
    /// parked jobs go back unsent.
    private func sendWithinBudget(_ jobs: [ClaimedGrantJob], app: AppContext, roster: AppRoster, queue: GrantQueue) {
        guard let fleetLimiter = roster.fleetLimiter(for: app), app.pauseGate.active == nil else {
            release(jobs, app: app, until: Date())
            return
        }
        let budget: (slots: [ContinuousClock.Instant], retryAfter: Duration)
        do {
            budget = try fleetLimiter.reserve(queue, wanted: jobs.count)
        } catch {
            roster.park(jobs, app: app)
            _ = sleepUnlessStopping(claimsHealth.failed(error, during: "reserving fleet budget"))
            return
        }
        send(Array(jobs.prefix(budget.slots.count)), app: app, notBefore: budget.slots)
        roster.park(Array(jobs.dropFirst(budget.slots.count)), app: app)
        if budget.slots.isEmpty { roster.notReady(app, for: budget.retryAfter) }
    }

    /// SIGHUP: re-read the secrets folder. Apps whose secret changed drop their
    /// token, and if paused, are probed at once: a rotation needs no restart.
    private func reloadSecrets(_ roster: AppRoster, _ queue: GrantQueue) {
        guard let secrets = credentials.secrets else { return }
        let changed = secrets.reload()
        logger.notice("re-read app secrets", metadata: ["folder": "\(secrets.path)", "changed": "\(changed.count)"])
        for row in roster.rows where row.appKey.map(changed.contains) == true {
            guard let app = roster.contexts[row.name] else { continue }
            let drop = app.dropCachedToken
            Task { await drop() }
            app.pauseGate.clear()
            if row.isPaused { try? queue.probeAppNow(row.name) }
        }
        roster.refreshSoon()
    }

    /// One permit first (waiting up to 250 ms), then more as calls finish, up to
    /// `wanted`, for at most a couple of milliseconds: one claim of many jobs costs
    /// about what one of a few does. Nil when no permit came.
    private func takePermits(_ wanted: Int) -> Int? {
        guard slots.wait(timeout: .now() + .milliseconds(250)) == .success else { return nil }
        var held = 1 + takeFreeSlots(upTo: wanted - 1)
        // With no call in flight, no permit is coming back: claim at once.
        if held < wanted, inFlight.count > 0 {
            // Let finishing calls return their permits while this thread sleeps: a permit
            // returned to a semaphore nobody waits on costs no wake-up, one handed to a
            // waiting thread costs a context switch.
            _ = sleepUnlessStopping(.milliseconds(2))
            held += takeFreeSlots(upTo: wanted - held)
        }
        return held
    }

    /// Claimed jobs become this process's: in flight (their leases extended), counted.
    private func admit(_ jobs: [ClaimedGrantJob], claimedAt: ContinuousClock.Instant, app: AppContext, fleetLimiter: FleetRateLimiter?) {
        metrics.callsInFlight.record(inFlight.add(jobs, claimedAt: claimedAt))
        app.inFlight.add(jobs.count, ordering: .relaxed)
        counters.update { $0.claimed += jobs.count }
        metrics.claimed.increment(by: jobs.count)
        // The tighter of this process's own rate and the fleet's budget; 0 when neither caps it.
        let allowed = [app.rateLimiter.currentRate, fleetLimiter?.rate].compactMap { $0 }.min() ?? 0
        metrics.allowedRate.record(allowed)
        metrics.allowedRate(app: app.name, allowed)
        activity.allowedRate(app: app.name, allowed)
    }

    /// Sends admitted jobs: each call gets the next slot of its app's own rate here,
    /// in the batch's order (with a fleet budget: at its reserved slot, if its own
    /// rate allows one by then), and waits for it in its own task (see `call`), so
    /// the producer goes on to the next claim at once.
    private func send(_ jobs: [ClaimedGrantJob], app: AppContext, notBefore fleetSlots: [ContinuousClock.Instant] = []) {
        for (index, job) in jobs.enumerated() {
            guard index < fleetSlots.count else {
                call(job, app: app, at: ContinuousClock.now + app.rateLimiter.reserve())
                continue
            }
            // A call keeps its fleet slot or is not sent: sent later, it would take another's.
            let latest = fleetSlots[index] + FleetRateLimiter.lateness
            if let slot = app.rateLimiter.reserve(earliest: fleetSlots[index], latest: latest) {
                call(job, app: app, at: slot, latest: latest)
            } else {
                release([job], app: app, until: Date())  // this process's own rate (slowed by a throttle) has no room
            }
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

    /// Idle: sleep on the LISTEN socket until an insert (or a finished keyed job,
    /// sql/014) notifies, or `limit` passes (the first app ready again, at most the
    /// poll slice); without notifications (transaction pool mode), until this
    /// worker's completer writes finished jobs, whose ordering keys' next jobs are
    /// claimable now. True when woken that way.
    private func waitForWork(_ queue: GrantQueue, notified: Bool, upTo limit: Duration) -> Bool {
        guard notified else {
            return !isStopping && wakeUp.wait(timeout: limit) && !isStopping
        }
        do {
            return try queue.waitForNewJobs(timeout: max(limit, .microseconds(1)))
        } catch {
            _ = sleepUnlessStopping(claimsHealth.failed(error, during: "waiting for notifications"))
            return false
        }
    }

    /// For `--until-empty`: nothing here in flight or unwritten, nothing of the apps
    /// this worker serves due soon, and nothing of theirs running elsewhere (it may come back as a retry, or its worker
    /// may have died and the job come back when its lease runs out).
    private func queueIsDrained(_ queue: GrantQueue, apps: [String]) -> Bool {
        guard inFlight.count == 0, completer.unwrittenCount == 0 else { return false }
        return (try? queue.hasUnfinishedJobs(apps: apps, dueWithin: options.backoff.maximum)) == false
    }
}
