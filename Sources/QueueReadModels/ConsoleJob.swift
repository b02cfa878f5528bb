import Foundation
import GrantQueue

/// One job as the console shows it: what the producer asked for and where it stands.
/// Every string here may come from a producer and must be escaped when shown.
public struct ConsoleJob: Sendable, Equatable {
    public var id: Int64
    public var state: String
    public var attempts: Int
    public var maxAttempts: Int
    public var optUserID: String
    public var toCorpIDs: [String]
    public var fields: [String]
    public var idempotencyKey: String?
    public var orderingKey: String?
    public var priority: Int
    public var runAt: Date
    public var lockedBy: String?
    public var lastHTTPStatus: Int?
    public var lastErrorCode: String?
    public var lastErrorMessage: String?
    public var lastRequestID: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var finishedAt: Date?
}
