import DingTalk
import GrantQueue
import Synchronization

/// One DingTalk app as this worker serves it: its token provider (inside the
/// client), its own call rate and slow-down on throttling, and its pause. The
/// producer thread and the call tasks share it; everything that changes is
/// behind a lock or atomic.
///
/// A pause of the app (config error, monthly quota) takes effect here at once,
/// and the producer then records it in `visibility_apps` for the whole fleet
/// (`takeDatabaseRequests`); the pause ends when this worker's probe call is
/// answered normally. Host-wide pauses (DingTalk's per-IP ban, an unreachable
/// API) stay in the worker's own `PauseGate`.
final class AppContext: Sendable {
    /// What the producer must write to `visibility_apps` for this app.
    enum DatabaseRequest: Equatable {
        case pause(Duration, reason: String)
        case resume
    }

    let name: String
    /// The key the app's fleet budget is kept under (`visibility_rate_slots`).
    let rateBucketKey: String
    /// `nil` when this worker has no credentials for the app: its jobs are left to others.
    let client: DingTalkClient?
    private let hasSecretNow: @Sendable () -> Bool
    let rateLimiter: RateLimiter
    let pauseGate = PauseGate()
    /// Set by the producer when it claims this app's probe job; the answer clears it.
    let probing = Atomic<Bool>(false)
    /// This app's jobs claimed here and not yet answered.
    let inFlight = Atomic<Int>(0)
    private let requests = Mutex<[DatabaseRequest]>([])
    let dropCachedToken: @Sendable () async -> Void

    init(name: String, rateBucketKey: String, client: DingTalkClient?, qps: Double?,
         hasSecret: @escaping @Sendable () -> Bool = { true }, dropCachedToken: @escaping @Sendable () async -> Void = {}) {
        self.name = name
        self.rateBucketKey = rateBucketKey
        self.client = client
        hasSecretNow = hasSecret
        rateLimiter = RateLimiter(rate: qps)
        self.dropCachedToken = dropCachedToken
    }

    /// Whether this worker can call the API for this app now.
    var hasSecret: Bool { client != nil && hasSecretNow() }

    /// From a call task: the whole fleet must hold this app's calls back.
    func requestPause(for duration: Duration, reason: String) {
        requests.withLock { $0.append(.pause(duration, reason: reason)) }
    }

    /// From a call task: the probe was answered normally.
    func requestResume() {
        requests.withLock { $0.append(.resume) }
    }

    /// For the producer: requests it could not write yet, back in front.
    func putBack(_ unwritten: [DatabaseRequest]) {
        requests.withLock { $0.insert(contentsOf: unwritten, at: 0) }
    }

    /// For the producer: what to write, oldest first.
    func takeDatabaseRequests() -> [DatabaseRequest] {
        requests.withLock { requests in
            defer { requests.removeAll() }
            return requests
        }
    }
}

/// What the worker needs to build an `AppContext` for each row of `visibility_apps`.
public struct AppCredentials: Sendable {
    public var baseURL: String
    public var transport: any HTTPTransport
    /// The `default` app's tokens from the environment (DINGTALK_APP_KEY/_SECRET or
    /// DINGTALK_ACCESS_TOKEN), if given.
    public var defaultTokenProvider: (any AccessTokenProvider)?
    /// One secret file per app key (DINGTALK_APP_SECRETS_DIR), if given.
    public var secrets: AppSecretsDirectory?

    public init(baseURL: String, transport: any HTTPTransport, defaultTokenProvider: (any AccessTokenProvider)?,
                secrets: AppSecretsDirectory?) {
        self.baseURL = baseURL
        self.transport = transport
        self.defaultTokenProvider = defaultTokenProvider
        self.secrets = secrets
    }

    /// The context for `app`: the environment's credentials for `default`, else the
    /// secret file named after the app's key; none when neither is there.
    func context(for app: GrantApp, options: WorkerOptions) -> AppContext {
        if app.name == GrantApp.defaultName, let provider = defaultTokenProvider {
            let client = DingTalkClient(baseURL: baseURL, tokenProvider: provider, transport: transport)
            return AppContext(name: app.name, rateBucketKey: app.appKey ?? options.rateBucketKey, client: client, qps: options.qps)
        }
        guard let key = app.appKey, let secrets else {
            return AppContext(name: app.name, rateBucketKey: app.appKey ?? options.rateBucketKey, client: nil, qps: options.qps)
        }
        let provider = AppAccessTokenProvider(appKey: key, secret: { secrets.secret(forKey: key) }, baseURL: baseURL, transport: transport)
        return AppContext(name: app.name, rateBucketKey: key,
                          client: DingTalkClient(baseURL: baseURL, tokenProvider: provider, transport: transport),
                          qps: options.qps, hasSecret: { secrets.appKeys.contains(key) },
                          dropCachedToken: { await provider.dropCachedToken() })
    }
}
