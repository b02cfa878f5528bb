import GrantQueue
import QueueHotPath

/// When the producer stages jobs queued for later (sql/019): every
/// `GrantQueue.stagingInterval`, and again at once while a call moves a full
/// batch. Any worker's stager serves the whole fleet. Used by the producer thread only.
struct DueJobStaging: ProducerPass {
    let interval: Duration
    private(set) var due = ContinuousClock.now

    init(interval: Duration = GrantQueue.stagingInterval) {
        self.interval = interval
    }

    mutating func record(moved: Int, at now: ContinuousClock.Instant) {
        due = moved >= GrantQueue.stagingBatch ? now : now + interval
    }
}
