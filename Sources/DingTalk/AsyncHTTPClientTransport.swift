import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// The production transport: one shared AsyncHTTPClient with a keep-alive pool
/// sized to the worker's concurrency (docs/DESIGN.md, HTTP client, says why not URLSession).
/// It goes through the egress proxy and trusts the roots `EgressConfiguration`
/// names, and speaks HTTP/2 when the server offers it by ALPN: then one
/// connection carries every call (docs/DESIGN.md, Egress).
public final class AsyncHTTPClientTransport: HTTPTransport {
    public struct Options: Sendable {
        /// Connections kept per host for HTTP/1.1: match the number of calls in flight.
        public var maxConnectionsPerHost = 16
        public var connectTimeout: Duration = .seconds(5)
        /// The whole exchange, from sending to the last byte of the body.
        public var requestTimeout: Duration = .seconds(15)
        /// Proxy and trust; certificate checks stay on unless turned off explicitly (and loudly).
        public var egress = EgressConfiguration()
        /// HTTP/2 when the server offers it (the default), or HTTP/1.1 always.
        public var allowHTTP2 = true
        /// The largest body read; DingTalk's answers are a few hundred bytes.
        public var maxBodyBytes = 1 << 20

        public init() {}
    }

    private let client: HTTPClient
    private let options: Options

    /// Throws when a certificate file named in `options.egress` cannot be loaded.
    public init(options: Options = Options(), logger: Logger? = nil) throws(EgressConfigurationError) {
        self.options = options
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: try Self.tlsConfiguration(options.egress),
            redirectConfiguration: .disallow,
            timeout: .init(connect: TimeAmount(options.connectTimeout)),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: options.maxConnectionsPerHost)
        )
        configuration.httpVersion = options.allowHTTP2 ? .automatic : .http1Only
        if let proxy = options.egress.proxy {
            let authorization = proxy.username.map { HTTPClient.Authorization.basic(username: $0, password: proxy.password ?? "") }
            configuration.proxy = .server(host: proxy.host, port: proxy.port, authorization: authorization)
        }
        client = HTTPClient(
            eventLoopGroup: HTTPClient.defaultEventLoopGroup,
            configuration: configuration,
            backgroundActivityLogger: logger ?? Logger(label: "dingtalk-http", factory: { _ in SwiftLogNoOpLogHandler() })
        )
    }

    /// `SSL_CERT_FILE` replaces the system roots (as OpenSSL does); `--ca-file` adds to whichever roots are in use.
    static func tlsConfiguration(_ egress: EgressConfiguration) throws(EgressConfigurationError) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = egress.verifyCertificates ? .fullVerification : .none
        if let file = egress.rootCertificatesFile {
            tls.trustRoots = .certificates(try EgressConfiguration.loadCertificates(file, source: "SSL_CERT_FILE"))
        }
        for file in egress.additionalCertificateFiles {
            tls.additionalTrustRoots.append(.certificates(try EgressConfiguration.loadCertificates(file, source: "--ca-file / DINGTALK_CA_FILE")))
        }
        return tls
    }

    public func send(_ request: TransportRequest) async throws -> TransportResponse {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = request.method
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        outgoing.body = .bytes(ByteBuffer(bytes: request.body))
        do {
            let response = try await client.execute(outgoing, timeout: TimeAmount(options.requestTimeout))
            let body = try await response.body.collect(upTo: options.maxBodyBytes)
            return TransportResponse(
                status: Int(response.status.code),
                headers: response.headers.map { ($0.name, $0.value) },
                body: Array(buffer: body)
            )
        } catch {
            var proxyStatus: Int?
            if let proxy = options.egress.proxy, (error as? HTTPClientError) == .invalidProxyResponse {
                proxyStatus = await ProxyTunnelProbe.status(proxy: proxy, url: request.url)
            }
            throw TransportErrorClassifier.classify(error, proxy: options.egress.proxy, proxyStatus: proxyStatus)
        }
    }

    public func shutdown() async throws {
        try await client.shutdown()
    }
}
