import Foundation
import GrantQueue
import Postgres

extension QueueStats {
    /// Jobs in a state no worker can explain: written by hand (or by a role that
    /// bypassed the producer contract, sql/009_producer_contract.sql) or by a bug.
    /// Each is a reason to look at the rows, not something the queue repairs by
    /// itself, except a lease too long, which the rescuer frees.
    public struct UnexplainedRows: Sendable, Equatable, Codable {
        /// `running` with no `locked_by` or `locked_until` (a CHECK forbids it; counted in case one was dropped).
        public private(set) var runningWithoutLease = 0
        /// `running` with a lease ending more than `GrantQueue.longestLease` from now.
        public private(set) var runningWithLeaseTooLong = 0
        /// `succeeded`, `failed` or `cancelled` with no `finished_at`.
        public private(set) var finishedWithoutFinishedAt = 0
        /// `pending` or `running` with a `finished_at`.
        public private(set) var unfinishedWithFinishedAt = 0
        /// `succeeded` with no attempt counted: no worker called the API for it.
        public private(set) var succeededWithoutAttempt = 0
        /// All of the above; 0 on a queue only workers wrote.
        public private(set) var total = 0

        public init() {}

        /// Each count with the words `status` prints for it.
        public var described: [(what: String, count: Int)] {
            [("running without a lease", runningWithoutLease),
             ("running with a lease over \(Int(GrantQueue.longestLease.seconds / 60)) minutes ahead", runningWithLeaseTooLong),
             ("finished without finished_at", finishedWithoutFinishedAt),
             ("pending or running with finished_at", unfinishedWithFinishedAt),
             ("succeeded without an attempt", succeededWithoutAttempt)]
        }

        /// Adds the five columns of `row` from `column` on, in the order of `GrantQueue.unexplainedRowCounts`.
        mutating func add(_ row: PostgresRow, from column: Int) throws {
            runningWithoutLease += try row.decode(column, as: Int.self)
            runningWithLeaseTooLong += try row.decode(column + 1, as: Int.self)
            finishedWithoutFinishedAt += try row.decode(column + 2, as: Int.self)
            unfinishedWithFinishedAt += try row.decode(column + 3, as: Int.self)
            succeededWithoutAttempt += try row.decode(column + 4, as: Int.self)
            total = described.reduce(0) { $0 + $1.count }
        }
    }
}
