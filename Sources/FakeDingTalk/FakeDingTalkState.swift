import DingTalk
import Foundation
import HTTPServerSupport
import Synchronization

/// The fake API's memory: tokens, the QPS window, counters, and every grant it applied.
/// Shared by all connections, so it is guarded by a mutex, taken once per request:
/// each request's whole decision (token, script, faults, QPS window, counts, record)
/// is made under one acquisition, so concurrent calls never see half of another's.
public final class FakeDingTalkState: Sendable {
    struct Token {
        let appKey: String
        var expiresAt: ContinuousClock.Instant
    }

    struct Inner {
        var random: SplitMix64
        var tokens: [String: Token] = [:]
        var tokenByApp: [String: String] = [:]
        var qpsWindow = QPSWindow()
        var calls = 0
        var tokenRequests = 0
        var codes: [String: Int] = [:]
        var applied: [VisibilityGrant] = []
        var inFlight = 0
        var maxInFlight = 0
        var requests: [RecordedRequest] = []
        var forcedError: DingTalkErrorCode?
        var scripted: [ScriptedReply] = []
        var scriptedTokens: [ScriptedReply] = []
        var callTimes: [Double] = []
        var appliedTimes: [Double] = []
        var apps: [String: AppStats] = [:]
    }

    public let options: FakeDingTalkOptions
    let inner: Mutex<Inner>
    let faultDice: FaultDice
    /// Connections the server accepted and what they spoke, for `/__fake/stats`.
    public let connections = ConnectionCounters()

    public init(options: FakeDingTalkOptions) {
        self.options = options
        self.faultDice = FaultDice(rates: options.faults)
        self.inner = Mutex(Inner(random: SplitMix64(seed: options.seed)))
    }

    /// Answers one request; everything it decides is decided under one lock.
    public func reply(to request: FakeRequest) -> FakeReply {
        let path = requestPath(request.path)
        if let admin = adminAnswer(method: request.method, path: path, request: request) {
            return admin.reply
        }
        let decide: (inout Inner) -> FakeAnswer
        switch (request.method, path) {
        case ("POST", DingTalkAPI.accessTokenPath): decide = tokenDecision(request)
        case ("PUT", DingTalkAPI.grantPath): decide = grantDecision(request)
        default: decide = { $0.error(.notFound) }
        }
        let recording = options.recordRequests && !request.path.hasPrefix("/__fake/")
        let answer = inner.withLock { state in
            let answer = decide(&state)
            if recording { state.requests.append(RecordedRequest(request, answer: answer)) }
            return answer
        }
        return answer.reply
    }

    /// Makes every grant call answer `code` (a misconfigured app, a used-up quota)
    /// until called again with `nil`.
    public func forceError(_ code: DingTalkErrorCode?) {
        inner.withLock { $0.forcedError = code }
    }

    /// Tokens issued so far (for tests that check no token leaks anywhere).
    public var issuedTokens: [String] { inner.withLock { Array($0.tokens.keys) } }

    public var applied: [VisibilityGrant] { inner.withLock { $0.applied } }

    /// With `recordTimeline`: when each grant call arrived, in Unix seconds, in order.
    public var callArrivals: [Double] { inner.withLock { $0.callTimes } }

    /// With `recordTimeline`: each applied grant's `optUserId` and when it was applied, in order.
    public var appliedTimeline: [(optUserId: String, at: Double)] {
        inner.withLock { state in zip(state.applied, state.appliedTimes).map { ($0.0.optUserId, $0.1) } }
    }

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
}
