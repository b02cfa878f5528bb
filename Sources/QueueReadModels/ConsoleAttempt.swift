import Foundation
import GrantQueue

/// One row of a job's audit trail, for the console's job page.
public struct ConsoleAttempt: Sendable, Equatable {
    public var attempt: Int
    public var workerID: String
    public var startedAt: Date
    public var finishedAt: Date
    public var httpStatus: Int?
    public var errorCode: String?
    public var errorMessage: String?
    public var requestID: String?
    public var outcome: String
}
