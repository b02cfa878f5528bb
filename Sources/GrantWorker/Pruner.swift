import Dispatch
import Foundation
import GrantQueue
import Logging
import Postgres
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
    private let stopping = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    /// The first round comes soon after start, so a restart loop still prunes.
    static let firstRoundDelay: Duration = .seconds(30)

    init(configuration: PostgresConfiguration, retention: Duration, interval: Duration, logger: Logger) {
        self.configuration = configuration
        self.retention = retention
        self.interval = interval
        self.logger = logger
    }

    func start() {
        let thread = Thread { [self] in
            loop()
            finished.signal()
        }
        thread.name = "pruner"
        thread.start()
    }

    /// Stops between batches and waits for the thread (at most `timeout`).
    func stop(timeout: Duration) {
        stopping.store(true, ordering: .releasing)
        wake.signal()
        _ = finished.wait(timeout: .now() + timeout.dispatchTimeInterval)
    }

    private func loop() {
        var delay = min(Self.firstRoundDelay, interval)
        while wake.wait(timeout: .now() + delay.dispatchTimeInterval) == .timedOut, !stopping.load(ordering: .acquiring) {
            delay = interval
            do {
                let queue = try GrantQueue(configuration: configuration, logger: logger)
                defer { queue.close() }
                let result = try queue.pruneIfNoOneElseIs(olderThan: retention) { stopping.load(ordering: .acquiring) }
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
