import DingTalk
import Foundation
import HTTPServerSupport
import Synchronization

/// A request as the fake saw it.
public struct FakeRequest: Sendable {
    public var method: String
    public var path: String
    public var headers: [(String, String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.value(forHeader: name)
    }
}

/// What to do with a request.
public enum FakeReply: Sendable {
    case respond(status: Int, headers: [(String, String)], body: [UInt8], delay: Duration)
    /// Close the connection without answering.
    case reset
    /// Never answer; the client's timeout decides.
    case hang
}

/// The fake API's memory: tokens, the QPS window, counters, and every grant it applied.
/// Shared by all connections, so it is guarded by a mutex.
public final class FakeDingTalkState: Sendable {
    struct Token {
        let appKey: String
        var expiresAt: ContinuousClock.Instant
    }

    struct Inner {
        var random: SplitMix64
        var tokens: [String: Token] = [:]
        var tokenByApp: [String: String] = [:]
        var recentCalls: [String: [ContinuousClock.Instant]] = [:]
        var calls = 0
        var tokenRequests = 0
        var codes: [String: Int] = [:]
        var applied: [VisibilityGrant] = []
        var inFlight = 0
        var maxInFlight = 0
        var requests: [RecordedRequest] = []
        var forcedError: DingTalkErrorCode?
        var scripted: [ScriptedReply] = []
        var callTimes: [Double] = []
        var appliedTimes: [Double] = []
        var apps: [String: AppStats] = [:]
    }

    /// One exchange: the request as received and what the fake answered.
    struct RecordedRequest: Codable {
        let method: String
        let path: String
        let headers: [String: String]
        let body: String
        /// The answer's status, or nil when the connection was reset or left hanging.
        let status: Int?
        /// The `x-acs-request-id` the answer carried.
        let requestId: String?
    }

    /// An answer queued by `PUT /__fake/script` for the next grant call with a
    /// valid token, ahead of every other rule: lets a test meet each error on demand.
    struct ScriptedReply: Codable {
        /// An error code; its status and message come from `DingTalkErrorCode.all`
        /// unless given (a code not in the table needs `status`).
        var code: String?
        var status: Int?
        var message: String?
        /// `html` (the non-JSON 502 page) or `reset`, instead of `code`.
        var fault: String?
        /// Used in the `requestid` field and the `x-acs-request-id` header.
        var requestId: String?
        /// How many calls get this answer (default 1).
        var times: Int?
    }

    public let options: FakeDingTalkOptions
    private let inner: Mutex<Inner>
    /// Connections the server accepted and what they spoke, for `/__fake/stats`.
    public let connections = ConnectionCounters()

    public init(options: FakeDingTalkOptions) {
        self.options = options
        self.inner = Mutex(Inner(random: SplitMix64(seed: options.seed)))
    }

    // MARK: Routing

    public func reply(to request: FakeRequest) -> FakeReply {
        let reply = route(request)
        if options.recordRequests, !request.path.hasPrefix("/__fake/") {
            record(request, reply: reply)
        }
        return reply
    }

    private func record(_ request: FakeRequest, reply: FakeReply) {
        let headers = Dictionary(request.headers.map { ($0.0.lowercased(), $0.1) }, uniquingKeysWith: { $1 })
        var status: Int?
        var requestID: String?
        if case .respond(let code, let replyHeaders, _, _) = reply {
            status = code
            requestID = replyHeaders.first { $0.0.lowercased() == DingTalkAPI.requestIDHeader }?.1
        }
        let recorded = RecordedRequest(method: request.method, path: request.path, headers: headers,
                                       body: String(decoding: request.body, as: UTF8.self), status: status, requestId: requestID)
        inner.withLock { $0.requests.append(recorded) }
    }

    private func route(_ request: FakeRequest) -> FakeReply {
        let path = requestPath(request.path)
        switch (request.method, path) {
        case ("POST", DingTalkAPI.accessTokenPath):
            return accessToken(request)
        case ("PUT", DingTalkAPI.grantPath):
            return grant(request)
        case ("GET", "/__fake/stats"):
            return json(200, statsJSON())
        case ("GET", "/__fake/applied"):
            return json(200, appliedJSON())
        case ("GET", "/__fake/requests"):
            return json(200, requestsJSON())
        case ("GET", "/__fake/timeline"):
            return json(200, timelineJSON())
        case ("GET", "/__fake/error-codes"):
            return json(200, errorCodesJSON())
        case ("PUT", "/__fake/script"):
            return script(request)
        default:
            return error(.notFound)
        }
    }

    private func accessToken(_ request: FakeRequest) -> FakeReply {
        struct Credentials: Decodable {
            let appKey: String
            let appSecret: String
        }
        inner.withLock { $0.tokenRequests += 1 }
        guard let credentials = try? JSONDecoder().decode(Credentials.self, from: Data(request.body)) else {
            return error(.invalidParameter)
        }
        guard credentials.appSecret == (credentials.appKey == options.appKey ? options.appSecret : options.apps[credentials.appKey]) else {
            return error(.invalidClientIdOrSecret)
        }
        let now = ContinuousClock.now
        let ttl = options.tokenTTL
        let token: String = inner.withLock { state in
            // The same token comes back while it is valid, and its lifetime starts over.
            if let existing = state.tokenByApp[credentials.appKey], let known = state.tokens[existing], known.expiresAt > now {
                state.tokens[existing]?.expiresAt = now + ttl
                return existing
            }
            let fresh = String(format: "%016llx%016llx", state.random.next(), state.random.next())
            state.tokens[fresh] = Token(appKey: credentials.appKey, expiresAt: now + ttl)
            state.tokenByApp[credentials.appKey] = fresh
            return fresh
        }
        return json(200, #"{"accessToken":"\#(token)","expireIn":\#(Int(ttl.components.seconds))}"#)
    }

    private func grant(_ request: FakeRequest) -> FakeReply {
        let now = ContinuousClock.now
        let wallClock = options.recordTimeline ? Date().timeIntervalSince1970 : 0
        inner.withLock {
            $0.calls += 1
            if options.recordTimeline { $0.callTimes.append(wallClock) }
        }
        guard let token = request.header(DingTalkAPI.accessTokenHeader), !token.isEmpty else {
            return error(.missingAccessToken)
        }
        let appKey: String? = inner.withLock { state in
            if options.staticTokens.contains(token) { return options.appKey }
            guard let known = state.tokens[token], known.expiresAt > now else { return nil }
            return known.appKey
        }
        guard let appKey else { return error(.invalidAuthentication) }
        let reply = grant(request, appKey: appKey, now: now, wallClock: wallClock)
        countForApp(appKey, reply: reply)
        return reply
    }

    private func grant(_ request: FakeRequest, appKey: String, now: ContinuousClock.Instant, wallClock: Double) -> FakeReply {
        if let scripted = nextScriptedReply() {
            return answer(scripted)
        }
        if let code = options.appFaults[appKey] {
            let known = DingTalkErrorCode.byCode[code]
            return error(status: known?.httpStatus ?? 403, code: code, message: known?.message ?? code, delay: options.latency)
        }
        // Parameters are checked before throttling and faults, so a bad job is refused
        // on its first attempt whatever else is going on (tests rely on that).
        guard let grant = try? JSONDecoder().decode(VisibilityGrant.self, from: Data(request.body)) else {
            return error(.invalidParameter, message: "请求体不是合法的JSON或缺少参数", delay: options.latency)
        }
        if let problem = Self.problem(with: grant) {
            return error(problem.0, message: problem.1, delay: options.latency)
        }
        if let forced = inner.withLock({ $0.forcedError }) {
            return error(forced, delay: options.latency)
        }
        if options.qps > 0, !admit(appKey: appKey, now: now) {
            return error(.qpsLimitForAppKeyAndAPI)
        }
        if let fault = rollFault() {
            return reply(for: fault, requestID: requestID())
        }
        inner.withLock {
            $0.applied.append(grant)
            if options.recordTimeline { $0.appliedTimes.append(wallClock) }
        }
        return .respond(status: 200, headers: jsonHeaders(), body: DingTalkAPI.successBody, delay: options.latency)
    }

    /// What the real API refuses of a well-formed body. Corp ids start with
    /// `ding`; user ids starting with `nonexistent` stand for people who left.
    static func problem(with grant: VisibilityGrant) -> (DingTalkErrorCode, String)? {
        if grant.toCorpIds.isEmpty || grant.toCorpIds.count > 100 {
            return (.invalidParameter, "toCorpIds 数量必须在1到100之间")
        }
        if let bad = grant.toCorpIds.first(where: { !$0.hasPrefix("ding") || $0.count < 5 }) {
            return (.invalidParameter, "toCorpIds 包含无效的corpId: \(bad)")
        }
        if grant.optUserId.trimmingCharacters(in: .whitespaces).isEmpty {
            return (.invalidParameter, "optUserId 不能为空")
        }
        if grant.optUserId.hasPrefix("nonexistent") {
            return (.employeeNotExist, DingTalkErrorCode.employeeNotExist.message)
        }
        if grant.fields.contains(where: { $0 != "mobile" && $0 != "status" }) {
            return (.invalidParameter, "fields 只能是 mobile 或 status")
        }
        return nil
    }

    /// Sliding one-second window per app key: at most `qps` admitted calls in any second.
    private func admit(appKey: String, now: ContinuousClock.Instant) -> Bool {
        inner.withLock { state in
            // Changed in place through the subscript: copying the window out costs O(qps) a call.
            let windowStart = now - .seconds(1)
            let expired = state.recentCalls[appKey].map { $0.firstIndex { $0 > windowStart } ?? $0.count } ?? 0
            state.recentCalls[appKey, default: []].removeFirst(expired)
            let admitted = Double(state.recentCalls[appKey, default: []].count) < options.qps
            if admitted { state.recentCalls[appKey, default: []].append(now) }
            return admitted
        }
    }

    enum Fault: String { case systemBusy = "system.busy", timeout, reset, html }

    private func reply(for fault: Fault, requestID: String) -> FakeReply {
        switch fault {
        case .systemBusy: return error(.systemBusy, requestID: requestID, delay: options.latency)
        case .timeout: count("timeout"); return .hang
        case .reset: count("reset"); return .reset
        case .html: count("html"); return htmlPage(requestID: requestID, delay: options.latency)
        }
    }

    private func rollFault() -> Fault? {
        let faults = options.faults
        guard faults.systemBusy + faults.timeout + faults.reset + faults.html > 0 else { return nil }
        let roll = inner.withLock { $0.random.nextUnit() }
        var threshold = faults.systemBusy
        if roll < threshold { return .systemBusy }
        threshold += faults.timeout
        if roll < threshold { return .timeout }
        threshold += faults.reset
        if roll < threshold { return .reset }
        threshold += faults.html
        if roll < threshold { return .html }
        return nil
    }

    /// Per app key: calls with a valid token, grants applied, and the codes answered.
    private func countForApp(_ appKey: String, reply: FakeReply) {
        var code: String?
        var applied = false
        switch reply {
        case .respond(let status, _, let body, _):
            if status == 200, body == DingTalkAPI.successBody {
                applied = true
            } else {
                code = (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])?["code"] as? String ?? "http.\(status)"
            }
        case .reset: code = "reset"
        case .hang: code = "timeout"
        }
        inner.withLock { state in
            state.apps[appKey, default: AppStats()].calls += 1
            if applied { state.apps[appKey, default: AppStats()].applied += 1 }
            if let code { state.apps[appKey, default: AppStats()].codes[code, default: 0] += 1 }
        }
    }

    // MARK: Scripted answers

    /// `PUT /__fake/script` with a JSON array of `ScriptedReply`: replaces the queue
    /// (`[]` empties it). Refuses entries it could not answer, naming the first.
    private func script(_ request: FakeRequest) -> FakeReply {
        guard let entries = try? JSONDecoder().decode([ScriptedReply].self, from: Data(request.body)) else {
            return error(status: 400, code: "invalid.param", message: "expected a JSON array of {code|fault, status, message, requestId, times}")
        }
        for (index, entry) in entries.enumerated() {
            let known = entry.code.flatMap { DingTalkErrorCode.byCode[$0] }
            let valid = switch (entry.code, entry.fault) {
            case (let code?, nil): !code.isEmpty && (known != nil || entry.status != nil)
            case (nil, let fault?): fault == "html" || fault == "reset"
            default: false
            }
            guard valid, (entry.times ?? 1) >= 1, entry.status.map({ (100...599).contains($0) }) ?? true else {
                return error(status: 400, code: "invalid.param",
                             message: "entry \(index): give a code from the table (or a code and a status), or fault html/reset; times >= 1")
            }
        }
        let queue = entries.flatMap { Array(repeating: $0, count: $0.times ?? 1) }
        inner.withLock { $0.scripted = queue }
        return json(200, #"{"scripted":\#(queue.count)}"#)
    }

    private func nextScriptedReply() -> ScriptedReply? {
        inner.withLock { $0.scripted.isEmpty ? nil : $0.scripted.removeFirst() }
    }

    private func answer(_ scripted: ScriptedReply) -> FakeReply {
        let requestID = scripted.requestId ?? requestID()
        if let fault = scripted.fault.flatMap(Fault.init(rawValue:)) {
            return reply(for: fault, requestID: requestID)
        }
        let code = scripted.code ?? ""
        let known = DingTalkErrorCode.byCode[code]
        return error(status: scripted.status ?? known?.httpStatus ?? 400, code: code,
                     message: scripted.message ?? known?.message ?? code, requestID: requestID, delay: options.latency)
    }

    /// Makes every grant call answer `code` (a misconfigured app, a used-up quota)
    /// until called again with `nil`.
    public func forceError(_ code: DingTalkErrorCode?) {
        inner.withLock { $0.forcedError = code }
    }

    /// Tokens issued so far (for tests that check no token leaks anywhere).
    public var issuedTokens: [String] { inner.withLock { Array($0.tokens.keys) } }

    // MARK: In-flight accounting (called by the connection handler)

    func requestStarted() {
        inner.withLock {
            $0.inFlight += 1
            $0.maxInFlight = max($0.maxInFlight, $0.inFlight)
        }
    }

    func requestFinished() {
        inner.withLock { $0.inFlight -= 1 }
    }

    // MARK: Answers

    private func count(_ code: String) {
        inner.withLock { $0.codes[code, default: 0] += 1 }
    }

    private func requestID() -> String {
        inner.withLock { String(format: "%08llX-%04llX-%012llX", $0.random.next() & 0xFFFF_FFFF, $0.random.next() & 0xFFFF, $0.random.next() & 0xFFFF_FFFF_FFFF) }
    }

    private func jsonHeaders(requestID: String? = nil) -> [(String, String)] {
        [("Content-Type", "application/json;charset=utf-8"), (DingTalkAPI.requestIDHeader, requestID ?? self.requestID())]
    }

    private func json(_ status: Int, _ body: String) -> FakeReply {
        .respond(status: status, headers: jsonHeaders(), body: Array(body.utf8), delay: .zero)
    }

    private func error(_ code: DingTalkErrorCode, message: String? = nil, requestID: String? = nil, delay: Duration = .zero) -> FakeReply {
        error(status: code.httpStatus, code: code.code, message: message ?? code.message, requestID: requestID, delay: delay)
    }

    /// DingTalk's error shape: `{"code","message","requestid"}` (lowercase `requestid`)
    /// plus the same id in `x-acs-request-id`.
    private func error(status: Int, code: String, message: String, requestID: String? = nil, delay: Duration = .zero) -> FakeReply {
        count(code)
        let id = requestID ?? self.requestID()
        let body: [String: String] = ["code": code, "message": message, DingTalkErrorCode.requestIDKey: id]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return .respond(status: status, headers: jsonHeaders(requestID: id), body: Array((try? encoder.encode(body)) ?? Data()),
                        delay: delay)
    }

    /// What a proxy, or DingTalk's ban, answers: not JSON at all.
    private func htmlPage(requestID: String, delay: Duration) -> FakeReply {
        .respond(status: 502, headers: [("Content-Type", "text/html"), (DingTalkAPI.requestIDHeader, requestID)],
                 body: Array("<html><body><h1>502 Bad Gateway</h1></body></html>".utf8), delay: delay)
    }

    // MARK: Introspection

    /// Counters for tests and the demo: `GET /__fake/stats`.
    public struct Stats: Codable, Sendable, Equatable {
        public var calls: Int
        public var applied: Int
        public var tokenRequests: Int
        public var inFlight: Int
        public var maxInFlight: Int
        public var codes: [String: Int]
        /// TCP connections accepted (each one a TLS handshake over HTTPS).
        public var connections: Int
        /// Of those, the ones that negotiated HTTP/2, and the streams (requests) they carried.
        public var http2Connections: Int
        public var http2Streams: Int
        /// By app key: calls that carried a valid token, what they did and were answered.
        public var apps: [String: AppStats]

        enum CodingKeys: String, CodingKey {
            case calls, applied, tokenRequests, inFlight, maxInFlight, codes, connections, apps
            case http2Connections = "http2_connections"
            case http2Streams = "http2_streams"
        }
    }

    public struct AppStats: Codable, Sendable, Equatable {
        public var calls = 0
        public var applied = 0
        public var codes: [String: Int] = [:]

        public init(calls: Int = 0, applied: Int = 0, codes: [String: Int] = [:]) {
            self.calls = calls
            self.applied = applied
            self.codes = codes
        }
    }

    public var stats: Stats {
        inner.withLock {
            Stats(calls: $0.calls, applied: $0.applied.count, tokenRequests: $0.tokenRequests, inFlight: $0.inFlight,
                  maxInFlight: $0.maxInFlight, codes: $0.codes, connections: connections.accepted,
                  http2Connections: connections.http2Connections, http2Streams: connections.http2Streams, apps: $0.apps)
        }
    }

    public var applied: [VisibilityGrant] { inner.withLock { $0.applied } }

    private func statsJSON() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(stats)) ?? Data(), as: UTF8.self)
    }

    private func appliedJSON() -> String {
        String(decoding: (try? JSONEncoder().encode(applied)) ?? Data(), as: UTF8.self)
    }

    /// With `recordTimeline`: when each grant call arrived (Unix seconds), and
    /// when each applied grant was applied, with its `optUserId`, for benchmarks.
    private func timelineJSON() -> String {
        struct Timeline: Encodable {
            let calls: [Double]
            let applied: [Applied]
            struct Applied: Encodable {
                let optUserId: String
                let at: Double
            }
        }
        let timeline = inner.withLock { state in
            Timeline(calls: state.callTimes, applied: zip(state.applied, state.appliedTimes).map {
                Timeline.Applied(optUserId: $0.0.optUserId, at: $0.1)
            })
        }
        return String(decoding: (try? JSONEncoder().encode(timeline)) ?? Data(), as: UTF8.self)
    }

    /// The error table the fake answers from, for conformance checks that must cover every row.
    private func errorCodesJSON() -> String {
        struct Row: Encodable {
            let code: String
            let httpStatus: Int
            let message: String
            let outcomeClass: String
        }
        let rows = DingTalkErrorCode.all.map {
            Row(code: $0.code, httpStatus: $0.httpStatus, message: $0.message, outcomeClass: $0.outcomeClass.rawValue)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(rows)) ?? Data(), as: UTF8.self)
    }

    private func requestsJSON() -> String {
        let requests = inner.withLock { $0.requests }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(requests)) ?? Data(), as: UTF8.self)
    }
}

/// A small seeded generator, so fault sequences can be replayed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func nextUnit() -> Double {
        Double(next() >> 11) / Double(1 << 53)
    }
}
