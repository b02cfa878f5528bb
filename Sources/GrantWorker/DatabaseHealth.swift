import CoreMetrics
import Logging
import Postgres
import Synchronization

/// The health of one of the worker's connections (claims, outcomes). Logs
/// trouble once when it starts and once when it ends, however many retries
/// happen in between, paces those retries (capped backoff), and counts
/// timeouts and reconnects. Each connection has its own, so one connection's
/// success cannot hide the other's failure; `/healthz` combines them.
final class DatabaseHealth: Sendable {
    private struct State {
        var failing = false
        var consecutiveFailures = 0
        var lastError = ""
        var reconnectsSeen = 0
        /// An error no retry can cure (a setting is wrong), reported once and then fatal.
        var fatal: String?
    }

    /// What the connection is for, e.g. "claims".
    let role: String
    private let database: String
    private let state = Mutex(State())
    private let logger: Logger
    private let reconnects = Counter(label: "visibility_database_reconnects_total")
    private let timeouts = Counter(label: "visibility_database_timeouts_total")
    private let refusedOutcomes = Counter(label: "visibility_outcomes_refused_total")

    init(role: String, database: String, logger: Logger) {
        self.role = role
        self.database = database
        self.logger = logger
    }

    /// What is wrong with the setup when `error` shows that no retry can help
    /// (a session-mode connection behind a transaction-mode pooler), else nil.
    static func setupProblem(in error: any Error) -> String? {
        guard let error = error as? PostgresError, error.isSessionStateLost else { return nil }
        return "\(error.message); run with --pool-mode transaction (VISIBILITY_WORKER_POOL_MODE=transaction)"
    }

    /// Records a failure and returns how long to wait before the next try.
    func failed(_ error: any Error, during activity: String) -> Duration {
        let postgresError = error as? PostgresError
        let fatal = Self.setupProblem(in: error)
        let (isNew, failures) = state.withLock { state in
            defer {
                state.failing = true
                state.consecutiveFailures += 1
                state.lastError = "\(error)"
                state.fatal = state.fatal ?? fatal
            }
            return (!state.failing, state.consecutiveFailures + 1)
        }
        let metadata: Logger.Metadata = ["database": "\(database)", "connection": "\(role)", "during": "\(activity)", "error": "\(error)"]
        if postgresError?.kind == .timeout {
            timeouts.increment()
            // Every timeout, not just the first: each one is a statement given up on.
            logger.warning("database not answering; keeping results in memory and retrying", metadata: metadata)
        } else if let fatal {
            logger.critical("the database connection cannot work this way", metadata: metadata.merging(["fix": "\(fatal)"]) { $1 })
        } else if isNew {
            logger.error("database unavailable; keeping results in memory and retrying", metadata: metadata)
        }
        let milliseconds = min(10_000, 250 * (1 << min(failures - 1, 6)))
        return .milliseconds(milliseconds)
    }

    /// Records a statement that worked; `reconnectCount` is the connection's own
    /// count, so reconnects made silently before a statement are counted too.
    func succeeded(reconnectCount: Int) {
        let (recovered, newReconnects) = state.withLock { state in
            defer {
                state.failing = false
                state.consecutiveFailures = 0
                state.reconnectsSeen = reconnectCount
            }
            return (state.failing, max(0, reconnectCount - state.reconnectsSeen))
        }
        if newReconnects > 0 { reconnects.increment(by: newReconnects) }
        if recovered {
            logger.notice("database reachable again", metadata: ["database": "\(database)", "connection": "\(role)"])
        }
    }

    /// One outcome the database refused for what it holds, while it answers every
    /// other statement: counted (visibility_outcomes_refused_total) but not a
    /// database problem, so `/healthz` does not report the database down for it.
    /// The caller has logged it with the job id.
    func outcomeRefused() {
        refusedOutcomes.increment()
    }

    /// The last error while failing; `nil` while the database answers.
    var problem: String? {
        state.withLock { $0.failing ? "database unavailable for \(role) (\($0.lastError))" : nil }
    }

    /// Set once an error showed the setup itself is wrong; the worker then stops.
    var fatalProblem: String? { state.withLock { $0.fatal } }

    /// Records a problem no retry can cure that the database answered without an
    /// error (a migration raised the schema's gate past this build): the worker stops.
    func refuse(_ problem: String) {
        let isNew = state.withLock { state in
            defer { state.fatal = state.fatal ?? problem }
            return state.fatal == nil
        }
        if isNew { logger.critical("stopping", metadata: ["database": "\(database)", "connection": "\(role)", "reason": "\(problem)"]) }
    }
}
