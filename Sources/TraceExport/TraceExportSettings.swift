import Logging
import OTel

/// What the worker changes of swift-otel's defaults, before the `OTEL_*` variables
/// (which win) are applied.
enum TraceExportSettings {
    static let serviceName = "visibility-worker"

    /// The endpoint that turns export on: the shared one or the traces one.
    static func endpoint(in environment: [String: String]) -> String? {
        for name in ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"] {
            if let value = environment[name], !value.isEmpty { return value }
        }
        return nil
    }

    /// A protocol this build cannot speak (only OTLP/HTTP with protobuf is built in).
    static func unsupportedProtocol(in environment: [String: String]) -> (variable: String, value: String)? {
        for name in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
            if let value = environment[name], !value.isEmpty {
                return value == "http/protobuf" ? nil : (name, value)
            }
        }
        return nil
    }

    static func configuration(logger: Logger) -> OTel.Configuration {
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        // Two spans a job, and one worker at full speed does several thousand jobs a
        // second: the defaults (512 spans every 5 s, 2,048 queued) would drop nearly
        // all. Up to 4,096 spans go out every 200 ms (about 20,000 a second), with
        // 32,768 queued; at stop, at most 5 s more.
        configuration.traces.batchSpanProcessor.scheduleDelay = .milliseconds(200)
        configuration.traces.batchSpanProcessor.maxExportBatchSize = 4096
        configuration.traces.batchSpanProcessor.maxQueueSize = 32_768
        configuration.traces.batchSpanProcessor.exportTimeout = .seconds(5)
        configuration.traces.otlpExporter.timeout = .seconds(5)
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning
        return configuration
    }
}
