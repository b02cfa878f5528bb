import DingTalk
import FakeDingTalk
import Foundation
import Synchronization
import XCTest

/// A transport that answers from a script and counts what it was asked.
final class ScriptedTransport: HTTPTransport {
    typealias Handler = @Sendable (TransportRequest) async throws -> TransportResponse
    private let handler: Handler
    private let log = Mutex<[TransportRequest]>([])

    init(_ handler: @escaping Handler) {
        self.handler = handler
    }

    var requests: [TransportRequest] { log.withLock { $0 } }

    func send(_ request: TransportRequest) async throws -> TransportResponse {
        log.withLock { $0.append(request) }
        return try await handler(request)
    }

    func shutdown() async throws {}
}

func jsonResponse(_ status: Int, _ body: String) -> TransportResponse {
    TransportResponse(status: status, headers: [("Content-Type", "application/json"), ("x-acs-request-id", "R")], body: Array(body.utf8))
}

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let offset = Mutex<Duration>(.zero)
    private let start = ContinuousClock.now

    func advance(by duration: Duration) { offset.withLock { $0 += duration } }
    func now() -> ContinuousClock.Instant { start + offset.withLock { $0 } }
}

/// Starts the fake API in this process for one test.
func withFakeServer(_ options: FakeDingTalkOptions = FakeDingTalkOptions(),
                    _ body: (FakeDingTalkServer, AsyncHTTPClientTransport) async throws -> Void) async throws {
    let server = try await FakeDingTalkServer.start(options: options, threads: 1)
    var transportOptions = AsyncHTTPClientTransport.Options()
    transportOptions.requestTimeout = .seconds(2)
    let transport = try AsyncHTTPClientTransport(options: transportOptions)
    do {
        try await body(server, transport)
    } catch {
        try? await transport.shutdown()
        try? await server.shutdown()
        throw error
    }
    try await transport.shutdown()
    try await server.shutdown()
}
