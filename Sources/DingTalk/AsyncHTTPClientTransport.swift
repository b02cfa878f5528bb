import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// The production transport: one shared AsyncHTTPClient with a keep-alive pool
/// sized to the worker's concurrency (docs/DESIGN.md, HTTP client, says why not URLSession).
public final class AsyncHTTPClientTransport: HTTPTransport {
    public struct Options: Sendable {
        /// Connections kept per host: match the number of calls in flight.
        public var maxConnectionsPerHost = 16
        public var connectTimeout: Duration = .seconds(5)
        /// The whole exchange, from sending to the last byte of the body.
        public var requestTimeout: Duration = .seconds(15)
        /// Certificate checks stay on unless turned off explicitly (and loudly).
        public var verifyCertificates = true
        /// The largest body read; DingTalk's answers are a few hundred bytes.
        public var maxBodyBytes = 1 << 20

        public init() {}
    }

    private let client: HTTPClient
    private let options: Options

    public init(options: Options = Options(), logger: Logger? = nil) {
        self.options = options
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = options.verifyCertificates ? .fullVerification : .none
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            redirectConfiguration: .disallow,
            timeout: .init(connect: TimeAmount(options.connectTimeout)),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: options.maxConnectionsPerHost)
        )
        configuration.httpVersion = .http1Only
        client = HTTPClient(
            eventLoopGroup: HTTPClient.defaultEventLoopGroup,
            configuration: configuration,
            backgroundActivityLogger: logger ?? Logger(label: "dingtalk-http", factory: { _ in SwiftLogNoOpLogHandler() })
        )
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
            throw Self.classify(error)
        }
    }

    public func shutdown() async throws {
        try await client.shutdown()
    }

    /// Names a transport failure; only a refused connection is certain not to have reached the API.
    static func classify(_ error: any Error) -> TransportError {
        let text = String(describing: error)
        let lowered = text.lowercased()
        if let clientError = error as? HTTPClientError {
            switch clientError {
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return TransportError(code: LocalErrorCode.timeout, reachedServer: true, description: text)
            case .connectTimeout:
                return TransportError(code: LocalErrorCode.timeout, reachedServer: false, description: text)
            case .remoteConnectionClosed:
                return TransportError(code: LocalErrorCode.connectionReset, reachedServer: true, description: text)
            default:
                break
            }
        }
        if lowered.contains("refused") {
            return TransportError(code: LocalErrorCode.connectionRefused, reachedServer: false, description: text)
        }
        if lowered.contains("reset") || lowered.contains("closed") || lowered.contains("eof") {
            return TransportError(code: LocalErrorCode.connectionReset, reachedServer: true, description: text)
        }
        if lowered.contains("timeout") || lowered.contains("timed out") || lowered.contains("deadline") {
            return TransportError(code: LocalErrorCode.timeout, reachedServer: true, description: text)
        }
        if lowered.contains("tls") || lowered.contains("ssl") || lowered.contains("certificate") || lowered.contains("handshake") {
            return TransportError(code: LocalErrorCode.tlsError, reachedServer: false, description: text)
        }
        return TransportError(code: LocalErrorCode.transportError, reachedServer: true, description: text)
    }
}
