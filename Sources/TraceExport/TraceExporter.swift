import Logging
import OTel
import ServiceLifecycle
import Tracing

/// Sends the worker's spans over OTLP/HTTP, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, and nowhere otherwise: without
/// an exporter, no tracer is bootstrapped and every span is a no-op.
///
/// Only traces: logs stay on stderr and metrics on `/metrics`. The rest of the
/// standard `OTEL_*` variables apply (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
/// `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`, `OTEL_EXPORTER_OTLP_HEADERS`, …).
public final class TraceExporter: Sendable {
    /// The endpoint spans go to, for the log line that says tracing is on.
    public let endpoint: String
    private let group: ServiceGroup
    private let running: Task<Void, Never>

    private init(endpoint: String, group: ServiceGroup, logger: Logger) {
        self.endpoint = endpoint
        self.group = group
        running = Task {
            do {
                try await group.run()
            } catch {
                logger.warning("trace export stopped", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Bootstraps the tracer and starts exporting, or returns nil when no endpoint is set.
    /// Call it once per process, before the first span.
    public static func startIfConfigured(environment: [String: String], logger: Logger) throws(TraceExportError) -> TraceExporter? {
        guard let endpoint = TraceExportSettings.endpoint(in: environment) else { return nil }
        if let value = environment["OTEL_SDK_DISABLED"], value.lowercased() == "true" { return nil }
        if let unsupported = TraceExportSettings.unsupportedProtocol(in: environment) {
            throw TraceExportError("\(unsupported.variable)=\(unsupported.value): only http/protobuf is built in")
        }
        let backend: (factory: any Tracer, service: any Service)
        do {
            let made = try OTel.makeTracingBackend(configuration: TraceExportSettings.configuration(logger: logger))
            backend = (made.factory, made.service)
        } catch {
            throw TraceExportError("cannot export traces to \(endpoint): \(error)")
        }
        InstrumentationSystem.bootstrap(backend.factory)
        let group = ServiceGroup(configuration: .init(services: [backend.service], gracefulShutdownSignals: [], logger: logger))
        return TraceExporter(endpoint: endpoint, group: group, logger: logger)
    }

    /// Sends the spans still batched, then stops: waits for the export at most as
    /// long as `OTEL_BSP_EXPORT_TIMEOUT` (set short by default, see `TraceExportSettings`).
    public func shutdown() async {
        await group.triggerGracefulShutdown()
        await running.value
    }
}

/// A setting that keeps traces from being exported; its description names the variable, not its secrets.
public struct TraceExportError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
