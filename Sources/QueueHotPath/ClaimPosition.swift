import Foundation

/// A place in the claim order (priority, highest first; then run_at; then id),
/// which is the order of the claim index, `visibility_grant_jobs_claim_order`.
/// A claim may start after one: the rows before it that a claim has taken stay
/// in the index as dead entries while a transaction pins the horizon, and a
/// claim that starts after them never reads them.
public struct ClaimPosition: Sendable, Hashable, Comparable {
    /// Wider than `priority` (a smallint), so `start` can sit above every job.
    public let priority: Int32
    public let runAt: Date
    public let id: Int64

    public init(priority: Int32, runAt: Date, id: Int64) {
        self.priority = priority
        self.runAt = runAt
        self.id = id
    }

    /// Before every job: a claim from here reads the index from its start.
    public static let start = ClaimPosition(priority: Int32(Int16.max) + 1, runAt: Date(timeIntervalSince1970: 0), id: 0)

    public static func < (lhs: ClaimPosition, rhs: ClaimPosition) -> Bool {
        if lhs.priority != rhs.priority { return lhs.priority > rhs.priority }
        if lhs.runAt != rhs.runAt { return lhs.runAt < rhs.runAt }
        return lhs.id < rhs.id
    }
}
