import GrantQueue
import Postgres
import QueueReadModels

/// The console's bulk actions: retry or cancel the jobs its filter shows, by id,
/// through the same statements as `retry --id` and `cancel --id`.
extension GrantQueue {
    static let consoleActionableIDs = """
        SELECT id FROM visibility_grant_jobs
        WHERE \(consoleFilter) AND state = $7::text
        ORDER BY id
        LIMIT $8
        """

    /// Retries the failed jobs that match the filter (at most `limit`), as `retry --id` would.
    public func consoleRetry(_ filter: ConsoleJobFilter, moreAttempts: Int32, limit: Int) throws -> Int {
        let ids = try actionableIDs(filter, state: "failed", limit: limit)
        guard !ids.isEmpty else { return 0 }
        return try retryFailed(RetrySelection(ids: ids), moreAttempts: moreAttempts)
    }

    /// Cancels the pending jobs that match the filter (at most `limit`), as `cancel --id` would.
    public func consoleCancel(_ filter: ConsoleJobFilter, limit: Int) throws -> Int {
        let ids = try actionableIDs(filter, state: "pending", limit: limit)
        guard !ids.isEmpty else { return 0 }
        return try cancelPending(ids: ids, idempotencyKeys: []).cancelled
    }

    private func actionableIDs(_ filter: ConsoleJobFilter, state: String, limit: Int) throws -> [Int64] {
        try connection.query(Self.consoleActionableIDs, filter.parameters + [state, limit]).map { try $0.decode(0) }
    }
}
