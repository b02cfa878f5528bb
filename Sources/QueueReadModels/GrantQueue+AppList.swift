import Foundation
import GrantQueue
import Postgres

/// The apps with their unfinished jobs and confined producers: `apps list`,
/// `status` and the console show it.
extension GrantQueue {
    static let listApps = PostgresStatement(
        name: "apps_list",
        sql: """
            SELECT a.name, a.app_key, a.global_qps, a.comment, a.pause_reason, a.paused_until, a.paused_since, a.probe_by,
                   (SELECT count(*) FROM visibility_grant_jobs AS j WHERE j.app = a.name AND j.state = 'pending')::bigint
                   + (SELECT count(*) FROM visibility_grant_jobs AS j WHERE j.app = a.name AND j.state = 'running')::bigint
            FROM visibility_apps AS a
            ORDER BY a.name
            """
    )

    static let producersOfApps = """
        SELECT app, array_agg(role ORDER BY role) FROM visibility_app_producers GROUP BY app
        """

    /// Every app with its unfinished job count and its confined producers, by name.
    public func apps() throws -> [GrantApp] {
        let producers = try producerRolesByApp()
        return try connection.query(Self.listApps).map { row in
            let name: String = try row.decode(0)
            return GrantApp(name: name, appKey: try row.decode(1), globalQPS: try row.decode(2), comment: try row.decode(3),
                            pauseReason: try row.decode(4), pausedUntil: try row.decode(5), pausedSince: try row.decode(6),
                            probeBy: try row.decode(7), unfinishedJobs: try row.decode(8),
                            producerRoles: producers.map { $0[name] ?? [] })
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
