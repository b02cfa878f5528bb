import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// The fake DingTalk API over real HTTP (SwiftNIO), for tests, the demo and benchmarks.
public final class FakeDingTalkServer: Sendable {
    public let state: FakeDingTalkState
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup

    /// The address it listens on, e.g. `http://127.0.0.1:40123`.
    public let baseURL: String

    private init(state: FakeDingTalkState, channel: any Channel, group: MultiThreadedEventLoopGroup, baseURL: String) {
        self.state = state
        self.channel = channel
        self.group = group
        self.baseURL = baseURL
    }

    /// Binds `host:port` (port 0 picks a free one) and starts serving.
    public static func start(host: String = "127.0.0.1", port: Int = 0, options: FakeDingTalkOptions,
                             threads: Int = System.coreCount) async throws -> FakeDingTalkServer {
        let state = FakeDingTalkState(options: options)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(FakeDingTalkHandler(state: state))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        let boundPort = channel.localAddress?.port ?? port
        let printableHost = host.contains(":") ? "[\(host)]" : host
        return FakeDingTalkServer(state: state, channel: channel, group: group, baseURL: "http://\(printableHost):\(boundPort)")
    }

    /// Stops accepting connections; `waitUntilClosed()` then returns. Safe from a
    /// signal handler (unlike `shutdown()`, which must run once, after that wait).
    public func close() {
        channel.close(promise: nil)
    }

    /// Resolves when the listening socket is closed.
    public func waitUntilClosed() async throws {
        try await channel.closeFuture.get()
    }

    public func shutdown() async throws {
        try? await channel.close()
        try await group.shutdownGracefully()
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
                context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(delay.components.seconds) * 1_000_000_000
                    + delay.components.attoseconds / 1_000_000_000)) {
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
        var responseHeaders = HTTPHeaders(headers)
        responseHeaders.add(name: "Content-Length", value: String(body.count))
        if !keepAlive { responseHeaders.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: status), headers: responseHeaders)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            done.assumeIsolated().whenComplete { _ in loopBoundContext.value.close(promise: nil) }
        }
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
