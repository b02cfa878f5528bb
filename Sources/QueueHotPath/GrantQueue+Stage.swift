import GrantQueue
import Postgres

/// The stager: jobs queued for later (`scheduled`, sql/019) join the claim
/// index shortly before they fall due.
extension GrantQueue {
    /// How far ahead of its run_at a scheduled job joins the claim index. A
    /// worker stages every `stagingInterval`, which must not exceed this, so a job
    /// is claimable from its run_at on.
    public static let stagingLookahead: Duration = .seconds(2)
    public static let stagingInterval: Duration = .seconds(1)
    /// Jobs moved per call; a full batch means more are due: call again at once.
    public static let stagingBatch = 1000

    static let stageDueJobs = PostgresStatement(
        name: "grant_jobs_stage_due",
        sql: "SELECT visibility_stage_due_jobs($1::float8, $2::int)"
    )

    /// Moves up to `limit` scheduled jobs due within `lookahead` into the claim
    /// index, earliest first; returns how many it moved.
    public func stageDueJobs(lookahead: Duration = GrantQueue.stagingLookahead, limit: Int = GrantQueue.stagingBatch) throws -> Int {
        try connection.query(Self.stageDueJobs, [lookahead.seconds, Int32(clamping: limit)]).first?.decode(0, as: Int.self) ?? 0
    }
}
