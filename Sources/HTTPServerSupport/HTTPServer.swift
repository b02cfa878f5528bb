import NIOCore
import NIOHTTP1
import NIOPosix

/// A listening HTTP/1.1 socket on its own event loops: what the fake DingTalk API
/// and the metrics endpoint share. Each connection gets the HTTP codec and one
/// handler from `makeHandler`.
public final class HTTPServer: Sendable {
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    /// The address it listens on, e.g. `http://127.0.0.1:40123`.
    public let baseURL: String

    private init(channel: any Channel, group: MultiThreadedEventLoopGroup, baseURL: String) {
        self.channel = channel
        self.group = group
        self.baseURL = baseURL
    }

    /// Binds `host:port` (port 0 picks a free one) and starts serving.
    public static func start(host: String, port: Int, threads: Int,
                             makeHandler: @escaping @Sendable () -> any ChannelHandler) async throws -> HTTPServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(makeHandler())
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
        return HTTPServer(channel: channel, group: group, baseURL: "http://\(printableHost):\(boundPort)")
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

extension ChannelHandlerContext {
    /// Writes a whole response with its `Content-Length`, closing the connection
    /// afterwards when the request did not ask to keep it alive.
    public func writeHTTPResponse(status: HTTPResponseStatus, headers: [(String, String)], body: [UInt8],
                                  keepAlive: Bool, version: HTTPVersion) {
        var responseHeaders = HTTPHeaders(headers)
        responseHeaders.add(name: "Content-Length", value: String(body.count))
        if !keepAlive { responseHeaders.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: version, status: status, headers: responseHeaders)
        write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(channel.allocator.buffer(bytes: body)))), promise: nil)
        let done = writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
        if !keepAlive {
            let context = NIOLoopBound(self, eventLoop: eventLoop)
            done.assumeIsolated().whenComplete { _ in context.value.close(promise: nil) }
        }
    }
}

/// The path of a request target, without its query string.
public func requestPath(_ uri: String) -> String {
    uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri
}
