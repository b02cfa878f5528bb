/// How `visibility-worker console` serves. The defaults suit one operator on the
/// machine itself: loopback only, actions allowed.
public struct ConsoleOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Hides retry and cancel, and refuses their POSTs.
    public var readOnly = false
    /// The shared secret exchanged at /login for a session cookie. Required on
    /// any address but loopback; without it, loopback needs no login.
    public var token: String?
    /// Longest gap between overview refreshes pushed to open pages (new jobs,
    /// announced by the insert trigger, push one sooner where LISTEN works).
    public var refreshInterval: Duration = .seconds(5)
    /// A worker counts as live if its heartbeat is this recent.
    public var liveWithin: Duration = .seconds(60)
    public var pageSize = 50
    /// Most jobs one bulk action touches; the confirmation says when a filter matches more.
    public var bulkLimit = 100_000
    /// Attempts a retried job gets anew, as `retry --attempts`.
    public var retryAttempts: Int32 = 10
    /// The overview counts a state exactly while the table statistics expect at most
    /// this many rows in it, and shows the estimate (marked "≈") above that.
    public var exactCountLimit = 100_000
    /// The API's throttle codes, to count the jobs waiting on throttles (the
    /// console does not know the API; the command passes DingTalk's).
    public var throttleCodes: [String] = []
    /// Database connections serving pages (each on its own thread).
    public var connections = 2

    public init() {}
}

/// Why the console will not start; says what to change.
public struct ConsoleSetupError: Error, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
