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
            FakeDingTalkHandler(state: state)
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

/// One connection: gathers a request, asks the state what to do, does it.
final class FakeDingTalkHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let state: FakeDingTalkState
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var requestsInFlight = 0

    init(state: FakeDingTalkState) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body.removeAll(keepingCapacity: true)
        case .body(var buffer):
            body.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
        case .end:
            guard let head else { return }
            self.head = nil
            let request = FakeRequest(method: head.method.rawValue, path: head.uri,
                                      headers: head.headers.map { ($0.name, $0.value) }, body: body)
            requestsInFlight += 1
            state.requestStarted()
            handle(state.reply(to: request), keepAlive: head.isKeepAlive, version: head.version, context: context)
        }
    }

    private func handle(_ reply: FakeReply, keepAlive: Bool, version: HTTPVersion, context: ChannelHandlerContext) {
        switch reply {
        case .hang:
            return  // finished when the client gives up and the connection closes
        case .reset:
            finishRequest()
            // The connection drops mid-request, with no answer.
            context.close(promise: nil)
        case .respond(let status, let headers, let body, let delay):
            if delay > .zero {
                let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) {
                    self.write(status: status, headers: headers, body: body, keepAlive: keepAlive, version: version,
                               context: loopBoundContext.value)
                }
            } else {
                write(status: status, headers: headers, body: body, keepAlive: keepAlive, version: version, context: context)
            }
        }
    }

    private func write(status: Int, headers: [(String, String)], body: [UInt8], keepAlive: Bool, version: HTTPVersion,
                       context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        finishRequest()
        context.writeHTTPResponse(status: HTTPResponseStatus(statusCode: status), headers: headers, body: body,
                                  keepAlive: keepAlive, version: version)
    }

    private func finishRequest() {
        guard requestsInFlight > 0 else { return }
        requestsInFlight -= 1
        state.requestFinished()
    }

    func channelInactive(context: ChannelHandlerContext) {
        while requestsInFlight > 0 { finishRequest() }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
