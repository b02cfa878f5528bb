import Foundation
import GrantQueue
import Postgres

/// The apps with their unfinished jobs and confined producers: `apps list`,
/// `status` and the console show it.
extension GrantQueue {
    /// Pending jobs are counted up to `$1 + 1` per app, so a million of them cost
    /// what ten thousand do; running jobs are few (the fleet's calls in flight).
    static let listApps = PostgresStatement(
        name: "apps_list",
        sql: """
            SELECT a.name, a.app_key, a.global_qps, a.comment, a.pause_reason, a.paused_until, a.paused_since, a.probe_by,
                   (SELECT count(*) FROM (
                        SELECT 1 FROM visibility_grant_jobs AS j WHERE j.app = a.name AND j.state = 'pending'
                        LIMIT $1::int + 1) AS pending)::bigint,
                   (SELECT count(*) FROM visibility_grant_jobs AS j WHERE j.app = a.name AND j.state = 'running')::bigint
            FROM visibility_apps AS a
            ORDER BY a.name
            """
    )

    /// The apps alone, for `status` and the console: their jobs are counted by the app signals.
    static let listAppsUncounted = PostgresStatement(
        name: "apps_list_uncounted",
        sql: """
            SELECT name, app_key, global_qps, comment, pause_reason, paused_until, paused_since, probe_by
            FROM visibility_apps ORDER BY name
            """
    )

    static let producersOfApps = """
        SELECT app, array_agg(role ORDER BY role) FROM visibility_app_producers GROUP BY app
        """

    /// Every app with its unfinished job count (pending ones counted up to
    /// `unfinishedCountLimit`; nil: not counted) and its confined producers, by name.
    /// The count reads every pending job until it has the limit of the app's: on a
    /// big queue, a tenth of a second or more per app (`apps list` pays it).
    public func apps(unfinishedCountLimit: Int? = 10_000) throws -> [GrantApp] {
        let producers = try producerRolesByApp()
        guard let unfinishedCountLimit else {
            return try connection.query(Self.listAppsUncounted).map { row in
                let name: String = try row.decode(0)
                return GrantApp(name: name, appKey: try row.decode(1), globalQPS: try row.decode(2), comment: try row.decode(3),
                                pauseReason: try row.decode(4), pausedUntil: try row.decode(5), pausedSince: try row.decode(6),
                                probeBy: try row.decode(7), producerRoles: producers.map { $0[name] ?? [] })
            }
        }
        return try connection.query(Self.listApps, [unfinishedCountLimit]).map { row in
            let name: String = try row.decode(0)
            let pending: Int = try row.decode(8)
            var app = GrantApp(name: name, appKey: try row.decode(1), globalQPS: try row.decode(2), comment: try row.decode(3),
                               pauseReason: try row.decode(4), pausedUntil: try row.decode(5), pausedSince: try row.decode(6),
                               probeBy: try row.decode(7), unfinishedJobs: min(pending, unfinishedCountLimit) + (try row.decode(9, as: Int.self)),
                               producerRoles: producers.map { $0[name] ?? [] })
            if pending > unfinishedCountLimit { app.unfinishedJobsAtLeast = true }
            return app
        }
    }

    /// The producer logins confined to each app, by app; nil if this login may not
    /// read the mapping (producers may not: it names other organizations' logins).
    func producerRolesByApp() throws -> [String: [String]]? {
        do {
            var roles: [String: [String]] = [:]
            for row in try connection.query(Self.producersOfApps) {
                roles[try row.decode(0, as: String.self)] = try row.decode(1, as: [String].self)
            }
            return roles
        } catch let error as PostgresError where error.sqlState == "42501" {
            return nil
        }
    }
}
