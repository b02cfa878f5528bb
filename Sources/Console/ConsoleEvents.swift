import Foundation
import GrantQueue
import Logging
import NIOCore
import NIOHTTP1
import Postgres
import Synchronization

/// Tells open overview pages when to refresh, over server-sent events: at once
/// when the insert trigger announces new jobs (LISTEN, on a connection and thread
/// of its own), and at least every `refreshInterval` for what no trigger announces
/// (workers finishing jobs). Under `--pool-mode transaction` LISTEN cannot work,
/// so it is the interval alone: polling, done once here for every page.
final class ConsoleEvents: Sendable {
    private let subscribers = Mutex<[ObjectIdentifier: any Channel]>([:])
    private let stopping = Atomic<Bool>(false)
    private let listening = Atomic<Bool>(false)
    private let configuration: PostgresConfiguration
    private let interval: Duration
    private let logger: Logger
    /// Fewest seconds between two refreshes, however many inserts arrive.
    static let minimumGap: Duration = .seconds(1)

    init(configuration: PostgresConfiguration, interval: Duration, logger: Logger) {
        self.configuration = configuration
        self.interval = interval
        self.logger = logger
    }

    /// True while inserts push refreshes (false: interval only).
    var isListening: Bool { listening.load(ordering: .relaxed) }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "console-events"
        thread.start()
    }

    func stop() {
        stopping.store(true, ordering: .releasing)
        let channels = subscribers.withLock { subscribers in
            defer { subscribers.removeAll() }
            return Array(subscribers.values)
        }
        for channel in channels { channel.close(promise: nil) }
    }

    /// Starts an event stream on `channel` (the response head is written here).
    func subscribe(_ channel: any Channel, version: HTTPVersion) {
        let head = HTTPResponseHead(version: version, status: .ok, headers: HTTPHeaders(
            [("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-store")]
                + ConsoleResponse.securityHeaders))
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        // The browser reconnects after 5 s if the stream drops.
        channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: "retry: 5000\n\n"))), promise: nil)
        subscribers.withLock { $0[ObjectIdentifier(channel)] = channel }
        channel.closeFuture.whenComplete { [self] _ in
            _ = subscribers.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
        }
    }

    private func broadcast() {
        let channels = subscribers.withLock { Array($0.values) }
        let message = "event: changed\ndata: \(Date().timeIntervalSince1970)\n\n"
        for channel in channels {
            channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: message))), promise: nil)
        }
    }

    private func run() {
        var queue: GrantQueue?
        defer { queue?.close() }
        let clock = ContinuousClock()
        var lastBroadcast = clock.now
        var notified = false
        while !stopping.load(ordering: .acquiring) {
            do {
                if queue == nil {
                    let opened = try GrantQueue(configuration: configuration, logger: logger)
                    queue = opened
                    listening.store(try opened.listenForNewJobs(), ordering: .relaxed)
                }
                // Short waits, so a stop is noticed within a second.
                if let queue, isListening {
                    if try queue.waitForNewJobs(timeout: .seconds(1)) { notified = true }
                } else {
                    Thread.sleep(forTimeInterval: 1)
                }
            } catch {
                logger.warning("console live updates: database unavailable, retrying", metadata: ["error": "\(error)"])
                queue?.close()
                queue = nil
                listening.store(false, ordering: .relaxed)
                Thread.sleep(forTimeInterval: 1)
            }
            let since = clock.now - lastBroadcast
            if (notified && since >= Self.minimumGap) || since >= interval {
                broadcast()
                lastBroadcast = clock.now
                notified = false
            }
        }
    }
}
