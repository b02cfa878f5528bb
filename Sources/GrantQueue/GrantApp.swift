import Foundation

/// A row of `visibility_apps`: one DingTalk app whose jobs the queue holds.
/// No secret: workers read those from files (`DINGTALK_APP_SECRETS_DIR`).
public struct GrantApp: Sendable, Equatable, Codable {
    /// The app every job names unless it says otherwise (sql/010_apps.sql).
    public static let defaultName = "default"

    public var name: String
    /// `nil` only for `default`, whose key comes from the worker's environment.
    public var appKey: String?
    /// Calls per second for the whole fleet for this app; `nil` = the worker's `--global-qps`.
    public var globalQPS: Double?
    public var comment: String?
    /// Why every worker holds this app's calls back, while it does.
    public var pauseReason: String?
    /// When the pause ends (past while one worker probes).
    public var pausedUntil: Date?
    public var pausedSince: Date?
    /// The worker that holds the probe call after the pause ran out.
    public var probeBy: String?
    /// Jobs of this app that are pending or running (counted up to a limit: see
    /// `unfinishedJobsAtLeast`); nil where they are not counted (`status` and the
    /// console show each app's due jobs instead, which an index with the app first counts).
    public var unfinishedJobs: Int?
    /// True when the app has more unfinished jobs than `unfinishedJobs` says.
    public var unfinishedJobsAtLeast: Bool?
    /// The producer logins confined to this app (sql/013_app_producers.sql);
    /// nil when the reader may not see them (producers may not).
    public var producerRoles: [String]?
    /// The backlog signals (`AppSignals`), where the reader asked for them (`status`).
    public var dueJobs: Int?
    public var dueJobsAtLeast: Bool?
    public var oldestDueJobAgeSeconds: Double?
    public var allowedCallsPerSecond: Double?
    public var secondsToDrain: Double?
    public var secondsSinceLastOutcome: Double?
    public var stalled: Bool?

    public init(name: String, appKey: String?, globalQPS: Double? = nil, comment: String? = nil, pauseReason: String? = nil,
                pausedUntil: Date? = nil, pausedSince: Date? = nil, probeBy: String? = nil, unfinishedJobs: Int? = nil,
                producerRoles: [String]? = nil) {
        self.name = name
        self.appKey = appKey
        self.globalQPS = globalQPS
        self.comment = comment
        self.pauseReason = pauseReason
        self.pausedUntil = pausedUntil
        self.pausedSince = pausedSince
        self.probeBy = probeBy
        self.unfinishedJobs = unfinishedJobs
        self.producerRoles = producerRoles
    }

    public var isPaused: Bool { pausedUntil != nil }

    /// Takes the app's signals in (they sit beside its other fields in `status --json`).
    public mutating func apply(_ signals: AppSignals) {
        dueJobs = signals.dueJobs
        dueJobsAtLeast = signals.dueJobsAtLeast
        oldestDueJobAgeSeconds = signals.oldestDueJobAgeSeconds
        allowedCallsPerSecond = signals.allowedCallsPerSecond
        secondsToDrain = signals.secondsToDrain
        secondsSinceLastOutcome = signals.secondsSinceLastOutcome
        stalled = signals.stalled
    }
}
