import GrantQueue

/// One app's fleet-wide call budget (`visibility_apps.global_qps`, else `--global-qps`), drawn from a token bucket row in
/// PostgreSQL shared by every worker of the same app key. Used by the producer
/// thread only, on its own connection; it never waits for tokens, so one app's
/// budget cannot hold up another's claims.
///
/// The bucket refills at 98% of the cap (a margin for the time between taking a
/// token and the call reaching the API) and holds at most a fiftieth of a
/// second's worth, so the fleet cannot burst above the cap after a pause: the
/// API counts calls in any one-second window, and a tenth of a second's burst on
/// top of 97% of the cap was enough to be throttled. Tokens are taken in chunks of
/// the same size, to keep the row cool without letting workers hoard them.
final class FleetRateLimiter {
    let appKey: String
    let cap: Double
    let rate: Double
    let burst: Double
    let chunk: Int
    private var tokens = 0

    init(appKey: String, cap: Double) {
        self.appKey = appKey
        self.cap = cap
        rate = cap * 0.98
        burst = max(1, rate / 50)
        chunk = max(1, Int(rate / 50))
    }

    /// Tokens for up to `wanted` calls now, without waiting: those this worker
    /// holds, topped up from the bucket. With none to be had, says how long until
    /// there are (the producer serves other apps meanwhile). Throws on database errors.
    func take(_ queue: GrantQueue, upTo wanted: Int) throws -> (tokens: Int, retryAfter: Duration) {
        if tokens < wanted {
            let (granted, delay) = try queue.takeRateTokens(appKey: appKey, rate: rate, burst: burst, wanted: chunk)
            tokens += granted
            if tokens == 0 { return (0, max(delay, .milliseconds(1))) }
        }
        let taken = min(tokens, wanted)
        tokens -= taken
        return (taken, .zero)
    }

    /// Tokens taken for jobs the claim did not return, kept for the next claim.
    func giveBack(_ count: Int) {
        tokens += max(0, count)
    }
}
