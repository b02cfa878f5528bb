import CoreMetrics
import Foundation

/// Supplies the `x-acs-dingtalk-access-token` for API calls.
public protocol AccessTokenProvider: Sendable {
    /// A token believed valid. Throws `AccessTokenError` when none can be had.
    func token() async throws(AccessTokenError) -> String
    /// The API refused `token`: drop it, so the next `token()` fetches a new one.
    func invalidate(_ token: String) async
}

/// No token could be had; `result` says why, classified like any API answer
/// (`config` for bad credentials, `transient` when DingTalk could not be reached).
public struct AccessTokenError: Error, Sendable, CustomStringConvertible {
    public var result: APICallResult
    public var description: String {
        "cannot get a DingTalk access token: \(result.code ?? "error")\(result.message.map { " (\($0))" } ?? "")"
    }
}

/// A fixed token from configuration (`DINGTALK_ACCESS_TOKEN`), for tests and for
/// tokens managed elsewhere. It cannot be refreshed.
public struct StaticAccessTokenProvider: AccessTokenProvider {
    let value: String

    public init(token: String) {
        self.value = token
    }

    public func token() async throws(AccessTokenError) -> String { value }
    public func invalidate(_ token: String) async {}
}

/// An internal app's token from its key and secret (`POST /v1.0/oauth2/accessToken`).
///
/// Cached until shortly before `expireIn` runs out. When it must be fetched, the
/// first caller starts one request and every other caller awaits that same
/// request (single flight), so a thousand calls in flight cause one fetch.
public actor AppAccessTokenProvider: AccessTokenProvider {
    struct CachedToken {
        let value: String
        let refreshAt: ContinuousClock.Instant
    }

    private let appKey: String
    /// Read at every fetch, so a rotated secret is picked up without a restart.
    private let appSecret: @Sendable () -> String?
    private let url: String
    private let transport: any HTTPTransport
    private let now: @Sendable () -> ContinuousClock.Instant
    private var cached: CachedToken?
    private var refresh: Task<CachedToken, any Error>?
    /// How many tokens were fetched (for tests; `visibility_token_refreshes_total` for operators).
    public private(set) var fetchCount = 0
    private let fetches = Counter(label: "visibility_token_refreshes_total")

    /// `now` is for tests that need time to pass without waiting for it.
    public init(appKey: String, appSecret: String, baseURL: String, transport: any HTTPTransport,
                now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.init(appKey: appKey, secret: { appSecret }, baseURL: baseURL, transport: transport, now: now)
    }

    /// With a secret that may change (a file): `secret` is asked at every fetch.
    public init(appKey: String, secret: @escaping @Sendable () -> String?, baseURL: String, transport: any HTTPTransport,
                now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.now = now
        self.appKey = appKey
        self.appSecret = secret
        self.url = baseURL.trimmingSuffix("/") + DingTalkAPI.accessTokenPath
        self.transport = transport
    }

    public func token() async throws(AccessTokenError) -> String {
        if let cached, now() < cached.refreshAt { return cached.value }
        let task: Task<CachedToken, any Error>
        if let refresh {
            task = refresh
        } else {
            fetchCount += 1
            fetches.increment()
            task = Task { [appKey, appSecret, url, transport, now] in
                try await Self.fetch(appKey: appKey, appSecret: appSecret, url: url, transport: transport, now: now)
            }
            refresh = task
        }
        do {
            let token = try await task.value
            // Only the first waiter of the newest fetch stores it: a waiter of an older
            // fetch must not put back a token that has since been refused.
            if refresh == task {
                refresh = nil
                cached = token
            }
            return token.value
        } catch {
            if refresh == task { refresh = nil }
            if let error = error as? AccessTokenError { throw error }
            throw AccessTokenError(result: APICallResult(outcomeClass: .transient, code: LocalErrorCode.transportError,
                                                         message: "\(error)", reachedAPI: false))
        }
    }

    public func invalidate(_ token: String) async {
        if cached?.value == token { cached = nil }
    }

    /// The secret changed: the next call fetches a token with the new one.
    public func dropCachedToken() {
        cached = nil
    }

    private static func fetch(appKey: String, appSecret: @Sendable () -> String?, url: String, transport: any HTTPTransport,
                              now: @Sendable () -> ContinuousClock.Instant) async throws -> CachedToken {
        guard let appSecret = appSecret() else {
            throw AccessTokenError(result: APICallResult(outcomeClass: .config, code: LocalErrorCode.missingSecret,
                                                         message: "no secret for this app key on this host", reachedAPI: false))
        }
        let body = try JSONEncoder().encode(["appKey": appKey, "appSecret": appSecret])
        let started = now()
        let response: TransportResponse
        do {
            response = try await transport.send(TransportRequest(
                method: .POST, url: url, headers: [("Content-Type", "application/json")], body: Array(body)))
        } catch let error as TransportError {
            throw AccessTokenError(result: error.result)
        }
        struct TokenAnswer: Decodable {
            let accessToken: String
            let expireIn: Int
        }
        if response.status == 200, let answer = try? JSONDecoder().decode(TokenAnswer.self, from: Data(response.body)),
           !answer.accessToken.isEmpty {
            // Refresh a tenth of the lifetime early (at most 5 minutes), so calls never carry an expired token.
            let lifetime = Duration.seconds(max(answer.expireIn, 1))
            let margin = min(lifetime / 10, .seconds(300))
            return CachedToken(value: answer.accessToken, refreshAt: started + lifetime - margin)
        }
        var result = ResponseClassifier.classify(status: response.status, requestIDHeader: response.header(DingTalkAPI.requestIDHeader),
                                                 body: response.body)
        // Whatever the token endpoint refuses with is about the app's credentials, not about a job.
        if result.outcomeClass == .terminal || result.outcomeClass == .token || result.outcomeClass == .success {
            result.outcomeClass = .config
        }
        throw AccessTokenError(result: result)
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var text = self
        while text.hasSuffix(suffix) { text.removeLast(suffix.count) }
        return text
    }
}
