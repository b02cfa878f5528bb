import Foundation
import GrantQueue
import Postgres

/// Managing the apps table (sql/010_apps.sql): `apps add`, `apps remove`.
extension GrantQueue {
    static let addApp = """
        INSERT INTO visibility_apps (name, app_key, global_qps, comment) VALUES ($1, $2, $3, $4)
        """

    static let updateApp = """
        UPDATE visibility_apps SET app_key = coalesce($2, app_key), global_qps = $3, comment = coalesce($4, comment)
        WHERE name = $1
        """

    static let countUnfinishedJobsOfApp = """
        SELECT count(*) FILTER (WHERE state IN ('pending', 'running'))::bigint, count(*)::bigint
        FROM visibility_grant_jobs WHERE app = $1
        """

    static let removeApp = "DELETE FROM visibility_apps WHERE name = $1"

    /// Adds an app, or with `replace` changes the key, budget and comment of an existing one.
    public func addApp(name: String, appKey: String?, globalQPS: Double?, comment: String?, replace: Bool = false) throws {
        do {
            if replace, try connection.query(Self.updateApp, [name, appKey, globalQPS, comment]).affectedRows == 1 { return }
            try connection.query(Self.addApp, [name, appKey, globalQPS, comment])
        } catch let error as PostgresError where error.sqlState == "23505" {
            let what = error.constraint == "visibility_apps_pkey" ? "an app named '\(name)' exists already (add --replace to change it)"
                : "another app has this app key"
            throw GrantAppError(what)
        } catch let error as PostgresError where error.sqlState == "23514" {
            throw GrantAppError("refused by the rule \(error.constraint ?? "on visibility_apps")")
        }
    }

    /// Removes an app no job names any more; refuses, saying why, while jobs do.
    public func removeApp(name: String) throws {
        try connection.transaction { connection in
            guard let row = try connection.query(Self.countUnfinishedJobsOfApp, [name]).first else { return }
            let (unfinished, all): (Int, Int) = (try row.decode(0), try row.decode(1))
            if unfinished > 0 {
                throw GrantAppError("\(unfinished) unfinished job(s) name the app '\(name)': let them finish or cancel them first")
            }
            if all > 0 {
                throw GrantAppError("\(all) finished job(s) still name the app '\(name)': prune them first")
            }
            // Removing the app must not lift a login's last mapping (it would then see every app).
            let producers = try Self.producerRoles(ofApp: name, on: connection)
            if !producers.isEmpty {
                throw GrantAppError("producer role(s) \(producers.joined(separator: ", ")) are confined to the app '\(name)': "
                    + "revoke them first (apps revoke \(name) ROLE)")
            }
            guard try connection.query(Self.removeApp, [name]).affectedRows == 1 else {
                throw GrantAppError("no app named '\(name)'")
            }
        }
    }
}
