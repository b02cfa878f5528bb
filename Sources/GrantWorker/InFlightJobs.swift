import GrantQueue
import QueueHotPath
import Synchronization

/// The jobs this process has claimed and not yet handed to the completer.
/// Their leases are extended on every heartbeat; on shutdown, whatever is left
/// after the drain timeout is released.
///
/// Each job also carries when its lease was last known to start: the claim's or
/// the last renewal's send time, by this process's clock. The database set the
/// lease from its own `now()`, later than that, so `since + lease` is a lower
/// bound of the lease's end that no clock skew can push too late.
final class InFlightJobs: Sendable {
    private struct Held {
        var job: ClaimedGrantJob
        var since: ContinuousClock.Instant
    }

    private let jobs = Mutex<[Int64: Held]>([:])

    /// Adds the batch, claimed by a statement sent at `claimedAt`; returns how many jobs are now held.
    @discardableResult
    func add(_ batch: [ClaimedGrantJob], claimedAt: ContinuousClock.Instant = .now) -> Int {
        jobs.withLock { jobs in
            for job in batch { jobs[job.id] = Held(job: job, since: claimedAt) }
            return jobs.count
        }
    }

    /// The leases of `ids` were renewed by a statement sent at `sentAt`.
    func renewed(_ ids: [Int64], sentAt: ContinuousClock.Instant) {
        jobs.withLock { jobs in
            for id in ids where jobs[id] != nil { jobs[id]!.since = max(jobs[id]!.since, sentAt) }
        }
    }

    /// When `job`'s lease was last known to start, or nil when it is not held.
    func leaseStart(of job: ClaimedGrantJob) -> ContinuousClock.Instant? {
        jobs.withLock { jobs in jobs[job.id].flatMap { $0.job.attempt == job.attempt ? $0.since : nil } }
    }

    /// Removes the job if this very claim (id and attempt) is still held, and runs
    /// `then` under the same lock, so that `removeAll` at shutdown cannot slip in
    /// between. Returns how many jobs are left, or nil if it was already taken
    /// away (released at shutdown).
    @discardableResult
    func remove(_ job: ClaimedGrantJob, then: () -> Void = {}) -> Int? {
        jobs.withLock { jobs in
            guard jobs[job.id]?.job.attempt == job.attempt else { return nil }
            jobs.removeValue(forKey: job.id)
            then()
            return jobs.count
        }
    }

    var ids: [Int64] { jobs.withLock { Array($0.keys) } }
    var count: Int { jobs.withLock { $0.count } }

    /// Empties the set and returns what it held.
    func removeAll() -> [ClaimedGrantJob] {
        jobs.withLock { jobs in
            let all = jobs.values.map(\.job)
            jobs.removeAll()
            return all
        }
    }
}
