import GrantQueue
import Synchronization

/// The jobs this process has claimed and not yet handed to the completer.
/// Their leases are extended on every heartbeat; on shutdown, whatever is left
/// after the drain timeout is released.
final class InFlightJobs: Sendable {
    private let jobs = Mutex<[Int64: ClaimedGrantJob]>([:])

    /// Adds the batch; returns how many jobs are now held.
    @discardableResult
    func add(_ batch: [ClaimedGrantJob]) -> Int {
        jobs.withLock { jobs in
            for job in batch { jobs[job.id] = job }
            return jobs.count
        }
    }

    /// Removes the job if this very claim (id and attempt) is still held, and runs
    /// `then` under the same lock, so that `removeAll` at shutdown cannot slip in
    /// between. Returns how many jobs are left, or nil if it was already taken
    /// away (released at shutdown).
    @discardableResult
    func remove(_ job: ClaimedGrantJob, then: () -> Void = {}) -> Int? {
        jobs.withLock { jobs in
            guard jobs[job.id]?.attempt == job.attempt else { return nil }
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
            let all = Array(jobs.values)
            jobs.removeAll()
            return all
        }
    }
}
