import Foundation
import GrantQueue

/// How an attempt at a job ended, as written back by `complete`.
public struct GrantJobOutcome: Sendable, Equatable {
    public enum Disposition: Sendable, Equatable {
        /// The grant was applied.
        case succeeded
        /// Terminal: the API refused this job and would refuse it again.
        case failed
        /// Try again at the given time; becomes `failed` once `max_attempts` is used up.
        case retry(at: Date)
        /// Back to pending without using up the attempt (shutdown, pause, config
        /// or quota problem); `at` is when it may run again.
        case released(at: Date)

        var columnValue: String {
            switch self {
            case .succeeded: "succeeded"
            case .failed: "failed"
            case .retry: "retry"
            case .released: "released"
            }
        }

        var runAt: Date? {
            switch self {
            case .succeeded, .failed: nil
            case .retry(let at), .released(let at): at
            }
        }
    }

    public var jobID: Int64
    /// The attempt number the job was claimed with.
    public var attempt: Int32
    public var disposition: Disposition
    public var startedAt: Date
    /// Whether a request reached the API (or timed out): only then is an attempt
    /// row written.
    public var reachedAPI: Bool
    public var httpStatus: Int?
    public var errorCode: String?
    public var errorMessage: String?
    public var requestID: String?

    public init(
        jobID: Int64, attempt: Int32, disposition: Disposition, startedAt: Date, reachedAPI: Bool = true,
        httpStatus: Int? = nil, errorCode: String? = nil, errorMessage: String? = nil, requestID: String? = nil
    ) {
        self.jobID = jobID
        self.attempt = attempt
        self.disposition = disposition
        self.startedAt = startedAt
        self.reachedAPI = reachedAPI
        self.httpStatus = httpStatus
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.requestID = requestID
    }
}

/// One job's row after `complete` wrote to it.
public struct CompletedGrantJob: Sendable, Equatable {
    public let id: Int64
    public let state: String
}
