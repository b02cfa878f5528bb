import Foundation
import GrantQueue

/// A job a worker holds the lease on.
public struct ClaimedGrantJob: Sendable, Equatable {
    public let id: Int64
    public let toCorpIds: [String]
    public let optUserId: String
    public let fields: [String]
    /// This attempt's number (1 for the first). Completions must carry it back: it
    /// fences off a worker whose lease has since been taken over.
    public let attempt: Int32
    public let maxAttempts: Int32
    public let lockedUntil: Date
    /// Higher first: a batch is sent in this order.
    public let priority: Int16
    /// The app (`visibility_apps.name`) whose credentials the call uses.
    public var app: String = GrantApp.defaultName
    /// When the job was due; with `priority` and `id`, its place in the claim order.
    public var runAt: Date = Date(timeIntervalSince1970: 0)
    /// The producer's W3C `traceparent`, when it gave one: each attempt's span continues its trace.
    public var traceparent: String?

    /// Where this job sits in the claim order: a claim after it takes what comes next.
    public var position: ClaimPosition { ClaimPosition(priority: Int32(priority), runAt: runAt, id: id) }
}
