import GrantQueue
import QueueHotPath

/// When the producer stages jobs queued for later (sql/019): every
/// `GrantQueue.stagingInterval`, and again at once while a call moves a full
/// batch. Any worker's stager serves the whole fleet. Used by the producer thread only.
struct DueJobStaging {
    let interval: Duration
    private var due = ContinuousClock.now

    init(interval: Duration = GrantQueue.stagingInterval) {
        self.interval = interval
    }

    func isDue(at now: ContinuousClock.Instant) -> Bool { now >= due }

    func timeUntilDue(from now: ContinuousClock.Instant) -> Duration { max(.zero, now.duration(to: due)) }

    mutating func record(moved: Int, at now: ContinuousClock.Instant) {
        due = moved >= GrantQueue.stagingBatch ? now : now + interval
    }
}
