import DingTalk

/// An answer that is not DingTalk's JSON: what a gateway, proxy or load balancer
/// between a client and DingTalk sends, or DingTalk's own per-IP ban. Each kind is
/// one row of docs/DESIGN.md's Answer table (gateway answers).
struct FakePage: Sendable {
    enum Kind: String, Sendable {
        /// nginx's error page (`text/html`), 502 unless another status is asked for.
        case html
        /// A bare reason phrase (`text/plain`), 429 unless another status is asked for.
        case text
        /// A status with no body at all, 503 unless another status is asked for.
        case empty
        /// DingTalk's ban: the punish document (`BanSignature`) inside a page, 200 unless asked otherwise.
        case ban

        var defaultStatus: Int {
            switch self {
            case .html: 502
            case .text: 429
            case .empty: 503
            case .ban: 200
            }
        }
    }

    let kind: Kind
    let status: Int
    let uuid: String

    var contentType: String {
        switch kind {
        case .html, .ban: "text/html; charset=utf-8"
        case .text, .empty: "text/plain; charset=utf-8"
        }
    }

    var body: String {
        switch kind {
        case .html:
            // nginx's own page, CRLFs and all.
            "<html>\r\n<head><title>\(status) \(Self.reason(status))</title></head>\r\n<body>\r\n<center><h1>\(status) \(Self.reason(status))</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        case .text: Self.reason(status)
        case .empty: ""
        case .ban: BanSignature.page(uuid: uuid)
        }
    }

    /// How a grant call answered so counts in its app's stats.
    var appCode: String { kind == .ban ? "punish.deny" : "http.\(status)" }

    static func reason(_ status: Int) -> String {
        switch status {
        case 408: "Request Timeout"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Temporarily Unavailable"
        case 504: "Gateway Time-out"
        default: "Error"
        }
    }
}
