import HTTPServerSupport
import NIOCore
import NIOHTTP1
import NIOPosix

/// The fake DingTalk API over real HTTP (SwiftNIO), for tests, the demo and benchmarks.
public final class FakeDingTalkServer: Sendable {
    public let state: FakeDingTalkState
    private let server: HTTPServer

    /// The address it listens on, e.g. `http://127.0.0.1:40123`.
    public var baseURL: String { server.baseURL }

    private init(state: FakeDingTalkState, server: HTTPServer) {
        self.state = state
        self.server = server
    }

    /// Binds `host:port` (port 0 picks a free one) and starts serving: plain HTTP/1.1, or
    /// with `tls` HTTPS offering HTTP/2 and HTTP/1.1.
    public static func start(host: String = "127.0.0.1", port: Int = 0, options: FakeDingTalkOptions,
                             threads: Int = System.coreCount, tls: HTTPServer.TLS? = nil) async throws -> FakeDingTalkServer {
        let state = FakeDingTalkState(options: options)
        let server = try await HTTPServer.start(host: host, port: port, threads: threads, tls: tls, counters: state.connections) {
            HTTPRequestHandler(maxBody: FakeDingTalkResponder.maxBody, responder: FakeDingTalkResponder(state: state))
        }
        return FakeDingTalkServer(state: state, server: server)
    }

    /// Stops accepting connections; `waitUntilClosed()` then returns. Safe from a
    /// signal handler (unlike `shutdown()`, which must run once, after that wait).
    public func close() {
        server.close()
    }

    /// Resolves when the listening socket is closed.
    public func waitUntilClosed() async throws {
        try await server.waitUntilClosed()
    }

    public func shutdown() async throws {
        try await server.shutdown()
    }
}

/// One connection's requests: asks the state what to do with each, and does it.
final class FakeDingTalkResponder: HTTPResponder {
    /// Grant and token requests are small; anything bigger is not one of ours.
    static let maxBody = 1 << 20

    private let state: FakeDingTalkState
    private var requestsInFlight = 0

    init(state: FakeDingTalkState) {
        self.state = state
    }

    func respond(to request: HTTPServerRequest, on connection: HTTPConnection) {
        let fakeRequest = FakeRequest(method: request.method.rawValue, path: request.uri,
                                      headers: request.head.headers.map { ($0.name, $0.value) }, body: request.body)
        requestsInFlight += 1
        state.requestStarted()
        switch state.reply(to: fakeRequest) {
        case .hang:
            return  // finished when the client gives up and the connection closes
        case .reset:
            finishRequest()
            // The connection drops mid-request, with no answer.
            connection.close()
        case .respond(let status, let headers, let body, let delay):
            if delay > .zero {
                connection.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) {
                    self.write(status: status, headers: headers, body: body, on: connection)
                }
            } else {
                write(status: status, headers: headers, body: body, on: connection)
            }
        }
    }

    private func write(status: Int, headers: [(String, String)], body: [UInt8], on connection: HTTPConnection) {
        guard connection.isActive else { return }
        finishRequest()
        connection.write(status: HTTPResponseStatus(statusCode: status), headers: headers, body: body)
    }

    private func finishRequest() {
        guard requestsInFlight > 0 else { return }
        requestsInFlight -= 1
        state.requestFinished()
    }

    func connectionClosed() {
        while requestsInFlight > 0 { finishRequest() }
    }
}
