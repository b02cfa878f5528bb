import Synchronization

/// A clock that moves only when a test says so: timing rules are checked by
/// arithmetic, not by how fast this machine happens to be.
final class ManualClock: Sendable {
    private let instant = Mutex(ContinuousClock.now)

    var now: ContinuousClock.Instant { instant.withLock { $0 } }

    func advance(by duration: Duration) {
        instant.withLock { $0 += duration }
    }

    /// For code that takes `now: @Sendable () -> ContinuousClock.Instant`.
    var reader: @Sendable () -> ContinuousClock.Instant { { [self] in now } }
}
