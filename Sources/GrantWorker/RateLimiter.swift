import GrantQueue
import Synchronization

/// Spaces API calls out to a rate, and adapts that rate to throttle answers:
/// halve it when the API says "too fast" (at most once a second, so a burst of
/// throttle answers counts once), and grow it back by a tenth a second while
/// calls succeed. Without a configured rate it starts unlimited and only a
/// throttle answer gives it one (half the rate just observed).
public final class RateLimiter: Sendable {
    struct State {
        var rate: Double?
        var nextSlot: ContinuousClock.Instant
        var lastDecrease: ContinuousClock.Instant
        var lastIncrease: ContinuousClock.Instant
        /// Calls started in the current and the previous one-second window, for the
        /// observed rate (O(1) per call).
        var windowStart: ContinuousClock.Instant
        var callsThisWindow = 0
        var callsLastWindow = 0

        mutating func countCall(at now: ContinuousClock.Instant) {
            rollWindow(to: now)
            callsThisWindow += 1
        }

        mutating func rollWindow(to now: ContinuousClock.Instant) {
            let elapsed = now - windowStart
            guard elapsed >= .seconds(1) else { return }
            callsLastWindow = elapsed >= .seconds(2) ? 0 : callsThisWindow
            callsThisWindow = 0
            windowStart = now
        }

        /// Calls per second over about the last second.
        mutating func observedRate(at now: ContinuousClock.Instant) -> Double {
            rollWindow(to: now)
            let fraction = min(1, (now - windowStart).seconds)
            return Double(callsThisWindow) + Double(callsLastWindow) * (1 - fraction)
        }
    }

    public let configuredRate: Double?
    private let minimumRate: Double
    private let state: Mutex<State>
    /// The time; a test moves it by hand.
    private let now: @Sendable () -> ContinuousClock.Instant

    public init(rate: Double?, minimumRate: Double = 1, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        configuredRate = rate
        self.minimumRate = minimumRate
        self.now = now
        let now = now()
        state = Mutex(State(rate: rate, nextSlot: now, lastDecrease: now - .seconds(10), lastIncrease: now, windowStart: now))
    }

    /// The rate in force now; `nil` while unlimited.
    public var currentRate: Double? { state.withLock { $0.rate } }

    /// Takes the next slot and says how long to wait for it (zero: go now).
    public func reserve() -> Duration {
        let now = self.now()
        return state.withLock { state in
            // The observed rate only matters when there is no configured one to fall back on.
            if configuredRate == nil { state.countCall(at: now) }
            guard let rate = state.rate else { return .zero }
            let slot = max(state.nextSlot, now)
            state.nextSlot = slot + .nanoseconds(Int64(1e9 / rate))
            return now.duration(to: slot)
        }
    }

    /// Takes the first slot from `earliest` on (a fleet budget's reserved time) if it
    /// comes no later than `latest`; nil, taking nothing, when this process's own
    /// rate has no slot by then.
    public func reserve(earliest: ContinuousClock.Instant, latest: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        let now = self.now()
        return state.withLock { state in
            if configuredRate == nil { state.countCall(at: now) }
            guard let rate = state.rate else { return max(earliest, now) }
            let slot = max(state.nextSlot, earliest, now)
            guard slot <= latest else { return nil }
            state.nextSlot = slot + .nanoseconds(Int64(1e9 / rate))
            return slot
        }
    }

    /// How many calls fit in the next `horizon` at the current rate (for sizing claims).
    public func capacity(within horizon: Duration) -> Int {
        max(1, available(within: horizon).calls)
    }

    /// How many calls fit in the next `horizon` beyond the slots already reserved,
    /// once that is at least `chunk` (or a quarter of the horizon's calls, if fewer):
    /// claims then come in chunks, not one job per slot. Until then 0, and how long
    /// until it is.
    public func available(within horizon: Duration, chunk: Int = 1) -> (calls: Int, retryAfter: Duration) {
        let now = self.now()
        return state.withLock { state in
            guard let rate = state.rate else { return (Int.max, .zero) }
            let needed = max(1, min(chunk, Int(rate * horizon.seconds / 4)))
            let backlog = max(.zero, now.duration(to: state.nextSlot))
            let calls = Int(((horizon - backlog).seconds * rate).rounded(.down))
            guard calls < needed else { return (calls, .zero) }
            return (0, max(.milliseconds(1), backlog - horizon + .nanoseconds(Int64(Double(needed) * 1e9 / rate))))
        }
    }

    /// The API answered "too fast".
    public func throttled() {
        let now = self.now()
        state.withLock { state in
            guard now - state.lastDecrease >= .seconds(1) else { return }
            let base = state.rate ?? max(state.observedRate(at: now), minimumRate * 2)
            state.rate = max(minimumRate, base / 2)
            state.lastDecrease = now
            state.lastIncrease = now
        }
    }

    /// A call went through: recover toward the configured rate.
    public func succeeded() {
        let now = self.now()
        state.withLock { state in
            guard let rate = state.rate, now - state.lastIncrease >= .milliseconds(100) else { return }
            let elapsed = (now - state.lastIncrease).seconds
            state.lastIncrease = now
            let grown = rate * (1 + 0.1 * elapsed)
            if let configuredRate {
                state.rate = min(configuredRate, grown)
            } else {
                // Unlimited again once it has doubled past what it was cut to, without another throttle.
                state.rate = now - state.lastDecrease > .seconds(30) ? nil : grown
            }
        }
    }
}
