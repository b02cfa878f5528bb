import CoreMetrics
import Logging
import Synchronization

/// Logs database trouble once when it starts and once when it ends, however
/// many retries happen in between, and paces those retries (capped backoff).
final class DatabaseHealth: Sendable {
    private struct State {
        var failing = false
        var consecutiveFailures = 0
        var lastError = ""
    }

    private let state = Mutex(State())
    private let logger: Logger
    private let reconnects = Counter(label: "visibility_database_reconnects_total")

    init(logger: Logger) {
        self.logger = logger
    }

    /// Records a failure and returns how long to wait before the next try.
    func failed(_ error: any Error, during activity: String) -> Duration {
        let (isNew, failures) = state.withLock { state in
            defer { state.failing = true; state.consecutiveFailures += 1; state.lastError = "\(error)" }
            return (!state.failing, state.consecutiveFailures + 1)
        }
        if isNew {
            logger.error("database unavailable; keeping results in memory and retrying",
                         metadata: ["during": "\(activity)", "error": "\(error)"])
        }
        let milliseconds = min(10_000, 250 * (1 << min(failures - 1, 6)))
        return .milliseconds(milliseconds)
    }

    func succeeded() {
        let recovered = state.withLock { state in
            defer { state.failing = false; state.consecutiveFailures = 0 }
            return state.failing
        }
        if recovered {
            reconnects.increment()
            logger.notice("database reachable again")
        }
    }

    /// The last error while failing; `nil` while the database answers.
    var problem: String? {
        state.withLock { $0.failing ? "database unavailable (\($0.lastError))" : nil }
    }
}
