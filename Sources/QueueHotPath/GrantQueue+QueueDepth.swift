import GrantQueue
import Postgres

/// The queue-depth gauge every worker reports.
extension GrantQueue {
    static let countDueJobs = PostgresStatement(
        name: "grant_jobs_count_due",
        sql: "SELECT count(*)::bigint FROM visibility_grant_jobs WHERE state = 'pending' AND run_at <= now()"
    )

    /// Pending jobs that are due now: the backlog (for the queue-depth metric).
    public func dueJobCount() throws -> Int {
        try connection.query(Self.countDueJobs).first?.decode(0, as: Int.self) ?? 0
    }
}
