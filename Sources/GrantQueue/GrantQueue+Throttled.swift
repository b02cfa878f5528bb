import Foundation
import Postgres

/// Jobs waiting on throttles: pending, their last answer a throttle. A throttle
/// uses no attempt, so a job can be throttled without end; this count lets an
/// operator tell a fleet held back by DingTalk's limits from a stalled one.
extension GrantQueue {
    /// Per app: pending jobs whose last answer was a 429, or one of the throttle
    /// codes `$1` (DingTalk's; this module does not know them).
    static let countThrottledJobsByApp = PostgresStatement(
        name: "grant_jobs_count_throttled_by_app",
        sql: """
            SELECT app, count(*)::bigint
            FROM visibility_grant_jobs
            WHERE state = 'pending' AND (last_http_status = 429 OR last_error_code = ANY($1::text[]))
            GROUP BY app
            ORDER BY app
            """
    )

    /// Pending jobs per app whose last answer was a throttle (apps without any are left out).
    public func throttledJobCounts(codes: [String]) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try connection.query(Self.countThrottledJobsByApp, [codes]) {
            counts[try row.decode(0, as: String.self)] = try row.decode(1, as: Int.self)
        }
        return counts
    }
}
