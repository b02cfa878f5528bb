/// Whose turn it is among the apps that may be claimed, apart from the database
/// and the clock (both passed in): round robin from the app after the last one
/// chosen, skipping an app that waits out its rate (`notReady`) or had nothing
/// due (`idle`, until the time passes or an insert wakes every app).
struct TurnRotation {
    /// What the caller says of a candidate that is not waiting.
    enum Verdict {
        /// Its turn now.
        case take
        /// Not now; ask again on the next pass.
        case pass
        /// Not before `duration` from now (another worker holds its probe, say).
        case passFor(Duration)
    }

    private var rotation = 0
    private var readyAt: [String: ContinuousClock.Instant] = [:]
    private var idleUntil: [String: ContinuousClock.Instant] = [:]

    /// The chosen app, if any, and when none is chosen, how soon the first waiting
    /// app is ready (at most `longestWait`).
    mutating func next(among candidates: [String], at now: ContinuousClock.Instant, longestWait: Duration = .milliseconds(500),
                       verdict: (String) throws -> Verdict) rethrows -> (chosen: String?, retryAfter: Duration) {
        var soonest = longestWait
        for offset in 0..<candidates.count {
            let name = candidates[(rotation &+ offset) % candidates.count]
            if let ready = readyAt[name], ready > now {
                soonest = min(soonest, now.duration(to: ready))
                continue
            }
            if let idle = idleUntil[name], idle > now {
                soonest = min(soonest, now.duration(to: idle))
                continue
            }
            switch try verdict(name) {
            case .take:
                rotation = (rotation &+ offset &+ 1) % candidates.count
                return (name, .zero)
            case .pass:
                continue
            case .passFor(let duration):
                readyAt[name] = now + duration
            }
        }
        return (nil, soonest)
    }

    /// The app cannot send more until `instant` (its rate or fleet budget is used up).
    mutating func notReady(_ name: String, until instant: ContinuousClock.Instant) {
        readyAt[name] = instant
    }

    /// The app had nothing due: not asked again until `instant`, or until `wakeAll`.
    mutating func idle(_ name: String, until instant: ContinuousClock.Instant) {
        idleUntil[name] = instant
    }

    /// An insert was notified: every idle app may have work again.
    mutating func wakeAll() {
        idleUntil.removeAll()
    }

    /// Whether an insert notification would change anything.
    func hasIdleApps(at now: ContinuousClock.Instant) -> Bool {
        idleUntil.values.contains { $0 > now }
    }
}
