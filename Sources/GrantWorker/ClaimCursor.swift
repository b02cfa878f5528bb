import QueueHotPath

/// Where an app's next claim starts. Used by the producer thread only.
///
/// A claim from the start of the claim index is what keeps claims fair to jobs
/// that became claimable behind the newest position (a higher priority inserted,
/// a keyed job's successor, a released job). While a transaction pins the
/// horizon, though, every job claimed since it began stays in the index as a
/// dead entry at its front, and a claim from the start steps over all of them:
/// the longer the drain, the slower each claim. So the cursor starts after the
/// last position it took, and goes back to the start only when that costs at
/// most `rescanShare` of the claim path's time: after a rescan that took `d`,
/// the next one waits `d × (1 / rescanShare − 1)`. With a clean index a rescan
/// takes about what any claim does, so nearly every claim is one, as before;
/// with a million dead entries it takes a tenth of a second, and the claims in
/// between cost nothing extra. A job behind the position waits at most that long,
/// or not at all when the claim after the position comes back empty: the
/// producer then claims from the start at once (`retryFromStart`), so a key's
/// next job is never left waiting while the app looks idle.
struct ClaimCursor {
    static let rescanShare = 0.05

    private(set) var position: ClaimPosition = .start
    private var nextRescan: ContinuousClock.Instant?

    /// Where the next claim starts.
    func start(at now: ContinuousClock.Instant) -> ClaimPosition {
        if nextRescan.map({ now >= $0 }) ?? true { return .start }
        return position
    }

    /// Whether a claim that started at `start` and took `claimed` jobs is to be
    /// tried again from the start now: nothing came after the position, and what
    /// became claimable behind it (a key's next job, a released job) is found
    /// this turn instead of after the app's idle pause.
    static func retryFromStart(after start: ClaimPosition, claimed: Int) -> Bool {
        start != .start && claimed == 0
    }

    /// Records a claim that started at `start`, took `elapsed` and ended `now`.
    mutating func record(_ claimed: [ClaimedGrantJob], from start: ClaimPosition, elapsed: Duration, at now: ContinuousClock.Instant) {
        let end = claimed.lazy.map(\.position).max()
        if start == .start {
            nextRescan = now + elapsed * (1 / Self.rescanShare - 1)
            // From the start, the end of this batch is the new position, even behind
            // the old one: rows before the old position may have become claimable.
            position = end ?? .start
        } else if let end {
            position = max(position, end)
        }
    }
}
