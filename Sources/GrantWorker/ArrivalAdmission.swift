import GrantQueue
import QueueHotPath

/// When the producer admits keyed jobs that producers committed (sql/017: until a
/// worker admits it, a keyed job has no place in its key's line and cannot run):
/// at once after an insert notification or a full pass, else every `interval`,
/// so a worker without notifications (transaction pool mode) admits them too.
/// Used by the producer thread only.
struct ArrivalAdmission: ProducerPass {
    let interval: Duration
    /// Another worker is admitting: its pass covers what had committed when it
    /// began, so look again shortly for what committed after.
    static let busyRetry: Duration = .milliseconds(100)
    private(set) var due = ContinuousClock.now

    init(interval: Duration) {
        self.interval = interval
    }

    /// An insert was notified: its keyed jobs are waiting.
    mutating func soon() { due = .now }

    mutating func record(_ admission: GrantQueue.Admission, at now: ContinuousClock.Instant) {
        switch admission {
        case .admitted(let count) where count >= GrantQueue.admissionBatch: due = now
        case .admitted: due = now + interval
        case .busyElsewhere: due = now + Self.busyRetry
        }
    }
}
