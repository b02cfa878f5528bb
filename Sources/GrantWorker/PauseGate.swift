import Synchronization

/// A stop on API calls: the process-wide one (ban, API unreachable) or one app's
/// (config error, quota; see `AppContext`).
/// The longest pause asked for wins. When a pause runs out, the gate lets one
/// call through as a probe; only an answer that is not another pause reopens
/// it fully, so a still-broken app costs one call per pause, not a batch.
final class PauseGate: Sendable {
    struct Pause: Equatable {
        var until: ContinuousClock.Instant
        var reason: String
    }

    private struct State {
        var pause: Pause?
        var probing = false
        /// Why calls were last paused; kept while probing, for `status`.
        var lastReason: String?
    }

    private let state = Mutex(State())

    /// Pauses until `duration` from now; returns true if this starts a new pause
    /// (so it is logged once per state change, not per call).
    @discardableResult
    func pause(for duration: Duration, reason: String) -> Bool {
        let until = ContinuousClock.now + duration
        return state.withLock { state in
            let isNew = state.pause.map { $0.until <= .now } ?? !state.probing
            if state.pause.map({ $0.until < until }) ?? true { state.pause = Pause(until: until, reason: reason) }
            state.lastReason = reason
            return isNew
        }
    }

    /// Ends any pause and probe at once (the cause was fixed: a rotated secret).
    func clear() {
        state.withLock { $0 = State() }
    }

    /// The pause in force, if any.
    var active: Pause? {
        state.withLock { state in
            guard let pause = state.pause, pause.until > .now else { return nil }
            return pause
        }
    }

    /// While true, one call at a time tests whether the cause of the last pause is gone.
    var isProbing: Bool { state.withLock { $0.probing } }

    /// Ends a pause that ran out and starts probing; returns it (to log once).
    func takeExpired() -> Pause? {
        state.withLock { state in
            guard let expired = state.pause, expired.until <= .now else { return nil }
            state.pause = nil
            state.probing = true
            return expired
        }
    }

    /// The API answered normally; returns true if that ends a probe (to log "resumed" once).
    func answeredNormally() -> Bool {
        state.withLock { state in
            let endsProbe = state.probing && state.pause == nil
            if endsProbe {
                state.probing = false
                state.lastReason = nil
            }
            return endsProbe
        }
    }

    /// What `status` shows: the reason calls are held back (paused or probing)
    /// and until when; `nil` when calls flow freely.
    var report: (reason: String, until: ContinuousClock.Instant)? {
        state.withLock { state in
            if let pause = state.pause, pause.until > .now { return (pause.reason, pause.until) }
            guard state.probing, let reason = state.lastReason else { return nil }
            return ("probing after: " + reason, .now)
        }
    }
}
