import GrantQueue
import QueueHotPath

/// One app's fleet-wide call budget (`visibility_apps.global_qps`, else
/// `--global-qps`), shared by every worker through PostgreSQL as reserved call
/// times (`visibility_rate_slots`). Used by the producer thread only, on its own
/// connection; it never waits, so one app's budget cannot hold up another's claims.
///
/// Slots are spaced at 98% of the cap (a margin for the time between a slot and
/// the call reaching the API). The API counts calls in any one-second window, and
/// a tenth of a second's burst on top of 97% of the cap was enough to be throttled;
/// reserved times cannot burst, and a slot nobody asked for in time is not lost
/// (tokens taken late were).
final class FleetRateLimiter {
    let appKey: String
    let cap: Double
    let rate: Double

    /// A call that could not start within this of its slot (the process stalled) is
    /// not sent late: its job goes back, due at once, no attempt used.
    static let lateness: Duration = .milliseconds(15)

    /// How far ahead slots are reserved: the claim and the call task's start fit in it.
    static let horizon: Duration = .milliseconds(200)

    init(appKey: String, cap: Double) {
        self.appKey = appKey
        self.cap = cap
        rate = cap * 0.98
    }

    /// How many jobs are worth claiming at once: a quarter of a second of the budget.
    var claimSize: Int { max(1, Int(rate / 4)) }

    /// Reserves call times for up to `wanted` calls; with none to be had, says how
    /// long until there are. Throws on database errors.
    func reserve(_ queue: GrantQueue, wanted: Int) throws -> (slots: [ContinuousClock.Instant], retryAfter: Duration) {
        let (granted, firstIn, wait) = try queue.reserveRateSlots(appKey: appKey, rate: rate, wanted: wanted, horizon: Self.horizon)
        guard granted > 0 else { return ([], max(wait, .milliseconds(1))) }
        // Counted from the answer, not the question: the server reads its clock after
        // waiting for the row's lock, so an earlier guess could send calls before their slots.
        let first = ContinuousClock.now + firstIn
        let spacing = Duration.nanoseconds(Int64(1e9 / rate))
        return ((0..<granted).map { first + spacing * $0 }, .zero)
    }
}
