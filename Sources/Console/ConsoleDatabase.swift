import Dispatch
import Foundation
import GrantQueue
import Logging
import Postgres
import Synchronization

/// Runs the console's queries on a few threads, each owning one connection for
/// its whole life (a connection is not thread-safe; see docs/DESIGN.md, Threads).
/// Event-loop code hands work over and awaits the answer, so a slow query never
/// blocks a socket.
final class ConsoleDatabase: Sendable {
    /// A unit of work: given a way to reach the thread's queue (opened on first use).
    private typealias Work = @Sendable (_ queue: () throws -> GrantQueue) -> Void

    private let waiting = Mutex<(work: [Work], stopping: Bool)>(([], false))
    private let available = DispatchSemaphore(value: 0)
    private let configuration: PostgresConfiguration
    private let logger: Logger
    private let threads: Int

    init(configuration: PostgresConfiguration, logger: Logger, threads: Int) {
        self.configuration = configuration
        self.logger = logger
        self.threads = max(1, threads)
    }

    func start() {
        for index in 0..<threads {
            let thread = Thread { [self] in serve() }
            thread.name = "console-db-\(index)"
            thread.start()
        }
    }

    /// Lets the threads finish the work already queued, then close their connections.
    func stop() {
        waiting.withLock { $0.stopping = true }
        for _ in 0..<threads { available.signal() }
    }

    /// Runs `body` on a database thread with that thread's queue.
    func perform<T: Sendable>(_ body: @escaping @Sendable (GrantQueue) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = waiting.withLock { state -> Bool in
                guard !state.stopping else { return false }
                state.work.append { queue in continuation.resume(with: Result { try body(queue()) }) }
                return true
            }
            if accepted {
                available.signal()
            } else {
                continuation.resume(throwing: ConsoleSetupError("the console is shutting down"))
            }
        }
    }

    private func serve() {
        var queue: GrantQueue?
        defer { queue?.close() }
        while true {
            available.wait()
            let next = waiting.withLock { state -> Work? in
                state.work.isEmpty ? nil : state.work.removeFirst()
            }
            guard let work = next else {
                if waiting.withLock({ $0.stopping }) { return }
                continue
            }
            work {
                if let queue { return queue }
                // The connection re-establishes itself after a failure; only the first open is ours.
                let opened = try GrantQueue(configuration: configuration, logger: logger)
                queue = opened
                return opened
            }
        }
    }
}
