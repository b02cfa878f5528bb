/// How far back each rescue pass looks for leases that ran out. A pass that
/// looks all the way reads the running-leases index from its front, where a
/// pinned horizon keeps the running version of every job run since it began;
/// so after one complete pass the next looks back only to the start of the
/// last one (and a little more, for the time between this clock and the
/// database's). A pass that took its full limit leaves the window where it was,
/// and every `fullPassInterval` one pass looks all the way again, for a lease a
/// narrower pass could miss: one whose row was locked while the pass ran, by a
/// transaction that then rolled back.
struct RescueWindow {
    static let fullPassInterval: Duration = .seconds(300)
    static let overlap: Duration = .seconds(5)

    private var lastFullPass: ContinuousClock.Instant?
    private var lastCompletePass: ContinuousClock.Instant?

    /// How far back a pass starting at `now` looks; nil: all the way.
    func lookBack(at now: ContinuousClock.Instant) -> Duration? {
        guard let full = lastFullPass, now - full < Self.fullPassInterval, let last = lastCompletePass else { return nil }
        return now - last + Self.overlap
    }

    /// A pass that started at `start`, looked back `lookBack` and took `rescued` of at most `limit` jobs.
    mutating func record(passStartedAt start: ContinuousClock.Instant, lookBack: Duration?, rescued: Int, limit: Int) {
        guard rescued < limit else { return }
        if lookBack == nil { lastFullPass = start }
        lastCompletePass = start
    }
}
