import Dispatch
import Foundation
import GrantQueue
import Logging
import Postgres
import QueueHotPath
import Synchronization

/// `run --retention`: every `pruneInterval`, deletes finished jobs older than
/// the retention, on its own thread and a connection opened only for the
/// purpose, so claims and completions never wait on it. An advisory lock lets
/// one worker of the fleet prune at a time; the others skip that round.
final class Pruner: Sendable {
    private let configuration: PostgresConfiguration
    private let retention: Duration
    private let interval: Duration
    private let logger: Logger
    private let thread = BackgroundThread(name: "pruner")

    /// The first round comes soon after start, so a restart loop still prunes.
    static let firstRoundDelay: Duration = .seconds(30)

    init(configuration: PostgresConfiguration, retention: Duration, interval: Duration, logger: Logger) {
        self.configuration = configuration
        self.retention = retention
        self.interval = interval
        self.logger = logger
    }

    func start() {
        thread.start { [self] in loop() }
    }

    /// Stops between batches and waits for the thread (at most `timeout`).
    func stop(timeout: Duration) {
        thread.stop(timeout: timeout)
    }

    private func loop() {
        var delay = min(Self.firstRoundDelay, interval)
        while !thread.wait(delay), !thread.isStopping {
            delay = interval
            do {
                let queue = try GrantQueue(configuration: configuration, logger: logger)
                defer { queue.close() }
                let result = try queue.pruneIfNoOneElseIs(olderThan: retention) { thread.isStopping }
                if let result, result.jobs > 0 {
                    logger.info("pruned finished jobs", metadata: [
                        "jobs": "\(result.jobs)", "attempts": "\(result.attempts)", "older_than": "\(retention)",
                    ])
                }
            } catch {
                logger.warning("pruning failed; trying again next round", metadata: ["error": "\(error)"])
            }
        }
    }
}
