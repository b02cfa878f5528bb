/// What the worker must do about a response (docs/DESIGN.md, Answer table).
public enum APIOutcomeClass: String, Sendable, Codable, CaseIterable {
    /// HTTP 200 with `{"result": true}`: applied.
    case success
    /// The access token was refused: refresh once and send again.
    case token
    /// The app is misconfigured (bad secret, no permission, IP not whitelisted):
    /// every job would fail the same way, so stop calling and fail none.
    case config
    /// The API refused this job and would again: fail it now.
    case terminal
    /// Over a QPS/QPM limit, or any 429: retry after a delay without using an
    /// attempt (the fleet's pace is at fault, not the job), and slow down.
    case throttled
    /// The organization's monthly API quota is used up: pause, give the job back.
    case quota
    /// 5xx, 408, a body that is not JSON (a gateway's page), timeout, reset: retry with backoff.
    case transient
    /// DingTalk's ban signature (`"punish":"deny"`, see `BanSignature`): this IP is
    /// banned for a while; pause all calls on this host, then probe.
    case banned
}

/// One call's outcome with what DingTalk said about it.
public struct APICallResult: Sendable, Equatable {
    public var outcomeClass: APIOutcomeClass
    /// `nil` when no HTTP response came back (timeout, reset, refused).
    public var httpStatus: Int?
    /// DingTalk's `code`, or for transport failures one of ours (`timeout`, `connection.reset`, ...).
    public var code: String?
    public var message: String?
    /// `requestid` from the body, else the `x-acs-request-id` header.
    public var requestID: String?
    /// False when the request certainly never reached the API (connection refused,
    /// no token): such a call does not use up an attempt.
    public var reachedAPI: Bool

    public init(
        outcomeClass: APIOutcomeClass, httpStatus: Int? = nil, code: String? = nil, message: String? = nil,
        requestID: String? = nil, reachedAPI: Bool = true
    ) {
        self.outcomeClass = outcomeClass
        self.httpStatus = httpStatus
        self.code = code
        self.message = message
        self.requestID = requestID
        self.reachedAPI = reachedAPI
    }
}

/// Codes this client uses for failures that carry no DingTalk code.
public enum LocalErrorCode {
    public static let timeout = "timeout"
    public static let connectionRefused = "connection.refused"
    public static let connectionReset = "connection.reset"
    public static let tlsError = "tls.error"
    public static let transportError = "transport.error"
    /// The API's host name did not resolve.
    public static let nameResolution = "dns.error"
    /// The egress proxy could not be reached (refused, or no answer in time).
    public static let proxyUnreachable = "proxy.unreachable"
    /// The egress proxy answered CONNECT with 407: its credentials are missing or wrong.
    public static let proxyAuthenticationRequired = "proxy.auth.required"
    /// The egress proxy answered CONNECT with another non-2xx status (502, 503, 403, …).
    public static let proxyTunnelRefused = "proxy.tunnel.refused"
    /// 200 whose body is JSON but not `{"result": true}`.
    public static let unexpectedResponse = "unexpected.response"
    /// A body that is not JSON (a proxy's page, truncated, empty) with a status that
    /// says nothing more: transient, its first bytes kept in the message.
    public static let nonJSONBody = "non.json.body"
    /// DingTalk's ban signature, `"punish":"deny"` (`BanSignature`).
    public static let punished = "punish.deny"
    /// This host has no secret for the app (`DINGTALK_APP_SECRETS_DIR`): a config problem, nothing was sent.
    public static let missingSecret = "secret.missing"
    /// An error status with JSON but no `code`.
    public static func httpStatus(_ status: Int) -> String { "http.\(status)" }

    /// The class of a failure that left no response. A broken road to the API (the
    /// egress proxy) is fixed by an operator, like a bad secret: `config`, so the
    /// process pauses and no job uses an attempt. Every other failure is `transient`.
    public static func outcomeClass(ofTransportFailure code: String) -> APIOutcomeClass {
        egressCodes.contains(code) ? .config : .transient
    }

    /// The codes that blame the egress proxy, not DingTalk.
    public static let egressCodes: Set<String> = [proxyUnreachable, proxyAuthenticationRequired, proxyTunnelRefused]

    /// Whether `code` is one of these (a failure DingTalk did not name) rather than
    /// DingTalk's own: a span keeps the two apart (`error.type`, `dingtalk.code`).
    public static func isLocal(_ code: String) -> Bool {
        code.hasPrefix("http.") || named.contains(code)
    }

    private static let named = Set<String>([
        timeout, connectionRefused, connectionReset, tlsError, transportError, nameResolution, unexpectedResponse,
        nonJSONBody, punished, missingSecret,
    ]).union(egressCodes)
}
