import CoreMetrics
import HTTPServerSupport
import NIOCore
import NIOHTTP1
import Prometheus

/// Serves `GET /metrics` (Prometheus text from `registry`), `GET /healthz`
/// (200 `ok`, or 503 with the reason `health` gives) and `GET /livez` (200
/// while the process answers) on its own event loop,
/// so a scrape never competes with the worker's threads for more than a moment.
public final class MetricsServer: Sendable {
    /// `nil` when healthy, else why not (shown in the 503 body).
    public typealias HealthCheck = @Sendable () -> String?

    private let server: HTTPServer
    /// e.g. `http://127.0.0.1:9464`
    public var baseURL: String { server.baseURL }

    private init(server: HTTPServer) {
        self.server = server
    }

    /// Makes the Prometheus registry the process-wide swift-metrics backend.
    /// Call once, before anything creates a metric.
    public static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // API calls take milliseconds to a few seconds.
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }

    public static func start(host: String, port: Int, registry: PrometheusCollectorRegistry,
                             health: @escaping HealthCheck) async throws -> MetricsServer {
        MetricsServer(server: try await HTTPServer.start(host: host, port: port, threads: 1) {
            HTTPRequestHandler(maxBody: MetricsResponder.maxBody, responder: MetricsResponder(registry: registry, health: health))
        })
    }

    public func shutdown() async throws {
        try await server.shutdown()
    }
}

/// Answers `/metrics`, `/livez` and `/healthz`; requests carry no body worth reading.
final class MetricsResponder: HTTPResponder {
    static let maxBody = 4096

    private let registry: PrometheusCollectorRegistry
    private let health: MetricsServer.HealthCheck

    init(registry: PrometheusCollectorRegistry, health: @escaping MetricsServer.HealthCheck) {
        self.registry = registry
        self.health = health
    }

    func respond(to request: HTTPServerRequest, on connection: HTTPConnection) {
        let text = "text/plain; charset=utf-8"
        let (status, contentType, body): (HTTPResponseStatus, String, [UInt8])
        switch (request.method, request.path) {
        case (.GET, "/metrics"):
            (status, contentType, body) = (.ok, "text/plain; version=0.0.4; charset=utf-8", registry.emitToBuffer())
        case (.GET, "/livez"):
            // The process answers: for a liveness probe, which must not restart workers
            // that are only waiting out a database outage.
            (status, contentType, body) = (.ok, text, Array("ok\n".utf8))
        case (.GET, "/healthz"):
            if let problem = health() {
                (status, contentType, body) = (.serviceUnavailable, text, Array("unhealthy: \(problem)\n".utf8))
            } else {
                (status, contentType, body) = (.ok, text, Array("ok\n".utf8))
            }
        default:
            (status, contentType, body) = (.notFound, text, Array("not found; try /metrics, /healthz or /livez\n".utf8))
        }
        connection.write(status: status, headers: [("Content-Type", contentType)], body: body)
    }
}
