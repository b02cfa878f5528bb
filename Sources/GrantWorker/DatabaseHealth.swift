import Logging
import Synchronization

/// Logs database trouble once when it starts and once when it ends, however
/// many retries happen in between, and paces those retries (capped backoff).
final class DatabaseHealth: Sendable {
    private struct State {
        var failing = false
        var consecutiveFailures = 0
    }

    private let state = Mutex(State())
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    /// Records a failure and returns how long to wait before the next try.
    func failed(_ error: any Error, during activity: String) -> Duration {
        let (isNew, failures) = state.withLock { state in
            defer { state.failing = true; state.consecutiveFailures += 1 }
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
        if recovered { logger.notice("database reachable again") }
    }
}
