import Synchronization

/// The apps this worker has no secret for: set by the producer, reported by the
/// completer with the heartbeat (for `status`).
final class AppsWithoutSecret: Sendable {
    private let names = Mutex<[String]>([])

    var current: [String] { names.withLock { $0 } }

    /// Stores `fresh`; true if it differs from what was there.
    func replace(with fresh: [String]) -> Bool {
        names.withLock { names in
            defer { names = fresh }
            return names != fresh
        }
    }
}
