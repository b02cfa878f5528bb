import GrantQueue

/// The fleet-wide call budget (`--global-qps`), drawn from a token bucket row in
/// PostgreSQL shared by every worker of the same app key. Used by the producer
/// thread only, on its own connection.
///
/// The bucket refills at 98% of the cap (a margin for the time between taking a
/// token and the call reaching the API) and holds at most a fiftieth of a
/// second's worth, so the fleet cannot burst above the cap after a pause: the
/// API counts calls in any one-second window, and a tenth of a second's burst on
/// top of 97% of the cap was enough to be throttled. Tokens are taken in chunks of
/// the same size, to keep the row cool without letting workers hoard them.
final class FleetRateLimiter {
    let appKey: String
    let rate: Double
    let burst: Double
    let chunk: Int
    private var tokens = 0

    init(appKey: String, cap: Double) {
        self.appKey = appKey
        rate = cap * 0.98
        burst = max(1, rate / 50)
        chunk = max(1, Int(rate / 50))
    }

    /// How many jobs are worth claiming at once under this budget.
    var claimLimit: Int { max(tokens, chunk * 2) }

    /// Takes one token, waiting (through `wait`) until the bucket has one; returns
    /// without one when `wait` says the worker is stopping. Throws on database errors.
    func acquire(_ queue: GrantQueue, wait: (Duration) -> Bool) throws {
        while tokens == 0 {
            let (granted, delay) = try queue.takeRateTokens(appKey: appKey, rate: rate, burst: burst, wanted: chunk)
            tokens += granted
            if tokens == 0, !wait(max(delay, .milliseconds(1))) { return }
        }
        tokens -= 1
    }
}
