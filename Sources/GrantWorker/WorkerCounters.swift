import Synchronization

/// Running totals for this process, for the exit summary and metrics.
public final class WorkerCounters: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var claimed = 0
        public var succeeded = 0
        public var failed = 0
        public var retried = 0
        public var released = 0
    }

    private let values = Mutex(Snapshot())

    public var snapshot: Snapshot { values.withLock { $0 } }

    func update(_ change: (inout Snapshot) -> Void) {
        values.withLock { change(&$0) }
    }
}
