import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL

/// A listening HTTP socket on its own event loops: what the fake DingTalk API
/// and the metrics endpoint share. Plain, it speaks HTTP/1.1; with `TLS`, it
/// offers HTTP/2 and HTTP/1.1 by ALPN. Either way each request reaches one
/// handler from `makeHandler` as HTTP/1-style parts (an HTTP/2 stream is
/// translated), so handlers need not know which protocol carried it.
public final class HTTPServer: Sendable {
    /// The certificate (chain) and private key to serve HTTPS with, as PEM files.
    public struct TLS: Sendable {
        public var certificateFile: String
        public var privateKeyFile: String

        public init(certificateFile: String, privateKeyFile: String) {
            self.certificateFile = certificateFile
            self.privateKeyFile = privateKeyFile
        }

        /// Loads the files; throws a message naming the one that is wrong.
        func makeContext() throws -> NIOSSLContext {
            let chain: [NIOSSLCertificate]
            do {
                chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
            } catch {
                throw HTTPServerError("cannot load the certificate from \(certificateFile) (\(error))")
            }
            guard !chain.isEmpty else { throw HTTPServerError("\(certificateFile) holds no PEM certificate") }
            let key: NIOSSLPrivateKey
            do {
                key = try NIOSSLPrivateKey(file: privateKeyFile, format: .pem)
            } catch {
                throw HTTPServerError("cannot load the private key from \(privateKeyFile) (\(error))")
            }
            var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                         privateKey: .privateKey(key))
            configuration.applicationProtocols = ["h2", "http/1.1"]
            return try NIOSSLContext(configuration: configuration)
        }
    }

    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    /// The address it listens on, e.g. `http://127.0.0.1:40123` (`https://` with TLS).
    public let baseURL: String

    private init(channel: any Channel, group: MultiThreadedEventLoopGroup, baseURL: String) {
        self.channel = channel
        self.group = group
        self.baseURL = baseURL
    }

    /// Binds `host:port` (port 0 picks a free one) and starts serving; counts connections into `counters`.
    public static func start(host: String, port: Int, threads: Int, tls: TLS? = nil, counters: ConnectionCounters = ConnectionCounters(),
                             makeHandler: @escaping @Sendable () -> any ChannelHandler) async throws -> HTTPServer {
        let sslContext = try tls?.makeContext()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                counters.connectionAccepted()
                guard let sslContext else {
                    return channel.eventLoop.makeCompletedFuture { try configureHTTP1(channel, makeHandler: makeHandler) }
                }
                do {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                return channel.configureHTTP2SecureUpgrade(
                    h2ChannelConfigurator: { channel in
                        counters.http2Negotiated()
                        return channel.configureHTTP2Pipeline(mode: .server) { stream in
                            counters.http2StreamOpened()
                            return stream.eventLoop.makeCompletedFuture {
                                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                                try stream.pipeline.syncOperations.addHandler(makeHandler())
                            }
                        }.map { _ in () }
                    },
                    http1ChannelConfigurator: { channel in
                        channel.eventLoop.makeCompletedFuture { try configureHTTP1(channel, makeHandler: makeHandler) }
                    })
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
        return HTTPServer(channel: channel, group: group, baseURL: "\(tls == nil ? "http" : "https")://\(printableHost):\(boundPort)")
    }

    private static func configureHTTP1(_ channel: any Channel, makeHandler: @Sendable () -> any ChannelHandler) throws {
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
        try channel.pipeline.syncOperations.addHandler(makeHandler())
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
        // An HTTP/2 stream ends with its response and the connection stays; `Connection` is not allowed there.
        let keepAlive = keepAlive || version.major >= 2
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

/// A server setting that cannot be used (a certificate or key file that does not load).
public struct HTTPServerError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
