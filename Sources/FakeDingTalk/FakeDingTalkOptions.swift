/// How the fake DingTalk API behaves.
public struct FakeDingTalkOptions: Sendable {
    /// Share of PUT calls that fail on purpose, each in [0, 1].
    public struct FaultRates: Sendable, Equatable {
        /// HTTP 500 `system.busy`, grant not applied.
        public var systemBusy = 0.0
        /// No answer at all (the client's timeout fires), grant not applied.
        public var timeout = 0.0
        /// The connection is closed without an answer, grant not applied.
        public var reset = 0.0
        /// nginx's 502 page, as a gateway in front of the API sends (not a ban).
        public var html = 0.0

        public init() {}

        /// Parses `system.busy=0.1,timeout=0.01,reset=0.01,html=0.01`.
        public init(parsing text: String) throws(FakeDingTalkOptionsError) {
            for item in text.split(separator: ",") where !item.trimmingCharacters(in: .whitespaces).isEmpty {
                let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, let rate = Double(parts[1]), (0...1).contains(rate) else {
                    throw FakeDingTalkOptionsError("fault '\(item)': expected NAME=RATE with RATE in 0...1")
                }
                switch parts[0] {
                case "system.busy", "busy": systemBusy = rate
                case "timeout", "hang": timeout = rate
                case "reset": reset = rate
                case "html": html = rate
                default: throw FakeDingTalkOptionsError("unknown fault '\(parts[0])'; known: system.busy, timeout, reset, html")
                }
            }
            guard systemBusy + timeout + reset + html <= 1 else {
                throw FakeDingTalkOptionsError("fault rates add up to more than 1")
            }
        }
    }

    public var appKey = "fake-app-key"
    public var appSecret = "fake-app-secret"
    /// More apps it serves, app key → secret (`--app KEY:SECRET`), besides `appKey`.
    public var apps: [String: String] = [:]
    /// Every grant call of an app key answers this code (`--app-fault KEY=CODE`): a misconfigured app.
    public var appFaults: [String: String] = [:]
    /// Tokens accepted without a fetch, as if issued to `appKey` (for `DINGTALK_ACCESS_TOKEN`).
    public var staticTokens: Set<String> = []
    /// Calls per second per app key before 403 QpsLimitForAppkeyAndApi; 0 = no limit.
    public var qps = 0.0
    public var tokenTTL: Duration = .seconds(7200)
    /// The clock for token lifetimes and the QPS window; tests move their own by hand.
    public var now: @Sendable () -> ContinuousClock.Instant = { .now }
    /// Added before every PUT answer.
    public var latency: Duration = .zero
    public var faults = FaultRates()
    /// Seeds the fault dice, so a run can be replayed.
    public var seed: UInt64 = 1
    /// Keep every request (method, path, headers, body) for `GET /__fake/requests`.
    public var recordRequests = false
    /// Keep the arrival time of every call and applied grant for `GET /__fake/timeline`.
    public var recordTimeline = false

    public init() {}
}

public struct FakeDingTalkOptionsError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
