import Synchronization

/// A process-wide stop on API calls (config error, quota, ban, API unreachable),
/// shared by every call path. The longest pause asked for wins.
final class PauseGate: Sendable {
    struct Pause: Equatable {
        var until: ContinuousClock.Instant
        var reason: String
    }

    private let current = Mutex<Pause?>(nil)

    /// Pauses until `duration` from now; returns true if this starts a new pause
    /// (so it is logged once per state change, not per call).
    @discardableResult
    func pause(for duration: Duration, reason: String) -> Bool {
        let until = ContinuousClock.now + duration
        return current.withLock { pause in
            let isNew = pause.map { $0.until <= .now } ?? true
            if pause == nil || pause!.until < until { pause = Pause(until: until, reason: reason) }
            return isNew
        }
    }

    /// The pause in force, if any.
    var active: Pause? {
        current.withLock { pause in
            guard let current = pause, current.until > .now else { return nil }
            return current
        }
    }

    /// Clears an expired pause and returns it (to log "resumed" once).
    func takeExpired() -> Pause? {
        current.withLock { pause in
            guard let expired = pause, expired.until <= .now else { return nil }
            pause = nil
            return expired
        }
    }
}
