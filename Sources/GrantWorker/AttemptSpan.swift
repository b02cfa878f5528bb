import DingTalk
import QueueHotPath
import Tracing

/// The span of one attempt at a job: OpenTelemetry's "process" span of a message.
///
/// When the producer stored a `traceparent`, the attempt continues its trace: the
/// producer's span is the parent, and a link to it says so explicitly (retries are
/// several attempts under one producer span; a trace viewer that starts a new trace
/// per message still finds the producer through the link). Without one, each attempt
/// starts a trace of its own. The DingTalk call is a client span under it
/// (`DingTalkClient.apply(_:context:)`). With no tracer bootstrapped (no
/// `OTEL_EXPORTER_OTLP_ENDPOINT`), every call here is a no-op.
struct AttemptSpan {
    static let name = "process visibility_grant_jobs"
    private let span: any Span

    init(for job: ClaimedGrantJob) {
        var producer = ServiceContext.topLevel
        if let traceparent = job.traceparent {
            InstrumentationSystem.instrument.extract(traceparent, into: &producer, using: TraceparentExtractor())
        }
        span = startSpan(Self.name, context: producer, ofKind: .consumer)
        if job.traceparent != nil { span.addLink(SpanLink(context: producer, attributes: [:])) }
        span.updateAttributes { attributes in
            attributes["messaging.operation.type"] = "process"
            attributes["messaging.destination.name"] = "visibility_grant_jobs"
            attributes["messaging.message.id"] = String(job.id)
            attributes["visibility.app"] = job.app
            attributes["visibility.attempt"] = Int(job.attempt)
            attributes["visibility.max_attempts"] = Int(job.maxAttempts)
        }
    }

    /// The context the DingTalk call's span is a child of.
    var context: ServiceContext { span.context }

    /// Records what the attempt came to and ends the span.
    func end(with outcome: GrantJobOutcome) {
        let disposition: String = switch outcome.disposition {
        case .succeeded: "succeeded"
        case .failed: "failed"
        case .retry: "retry"
        case .released: "released"
        }
        span.updateAttributes { attributes in
            attributes["visibility.outcome"] = disposition
            if let code = outcome.errorCode { attributes["error.type"] = code }
        }
        switch outcome.disposition {
        case .failed, .retry: span.setStatus(SpanStatus(code: .error, message: outcome.errorCode ?? disposition))
        case .succeeded, .released: break
        }
        span.end()
    }
}

/// Reads a stored `traceparent` as the only header of a W3C Trace Context carrier.
private struct TraceparentExtractor: Extractor {
    func extract(key: String, from traceparent: String) -> String? {
        key == "traceparent" ? traceparent : nil
    }
}
