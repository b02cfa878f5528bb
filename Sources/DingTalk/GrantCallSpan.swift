import Foundation
import Tracing

/// The client span of one grant call, named and described as OpenTelemetry's HTTP
/// conventions ask: the method, the URL template (never the full URL), the status,
/// and what DingTalk said (its code and request id; a failure it did not name, such
/// as a gateway's page or a timeout, is `error.type`). The access token travels in a
/// header that no attribute reads.
enum GrantCallSpan {
    static let name = "PUT \(DingTalkAPI.grantPath)"

    /// Starts the span as a child of `parent` (the attempt's span, when the engine traces).
    static func start(parent: ServiceContext, server: (host: String, port: Int)?) -> any Span {
        let span = startSpan(name, context: parent, ofKind: .client)
        span.updateAttributes { attributes in
            attributes["http.request.method"] = "PUT"
            attributes["url.template"] = DingTalkAPI.grantPath
            if let server {
                attributes["server.address"] = server.host
                attributes["server.port"] = server.port
            }
        }
        return span
    }

    /// Records the classified answer and ends the span.
    static func end(_ span: any Span, with result: APICallResult) {
        span.updateAttributes { attributes in
            if let status = result.httpStatus { attributes["http.response.status_code"] = status }
            if let code = result.code { attributes[LocalErrorCode.isLocal(code) ? "error.type" : "dingtalk.code"] = code }
            if let requestID = result.requestID { attributes["dingtalk.request_id"] = requestID }
            attributes["dingtalk.outcome_class"] = result.outcomeClass.rawValue
        }
        if result.outcomeClass != .success {
            span.setStatus(SpanStatus(code: .error, message: result.code ?? result.outcomeClass.rawValue))
        }
        span.end()
    }

    /// Host and port of the API's base URL, for `server.address` and `server.port`.
    static func server(of baseURL: String) -> (host: String, port: Int)? {
        guard let url = URL(string: baseURL), let host = url.host else { return nil }
        return (host, url.port ?? (url.scheme?.lowercased() == "http" ? 80 : 443))
    }
}
