import Foundation
import GrantQueue
import Postgres

/// Producer logins confined to apps (sql/013_app_producers.sql): row-level
/// security lets a mapped login insert and read only its apps' jobs and attempts.
extension GrantQueue {
    /// What decides whether mapping role `$1` would confine anything: it exists,
    /// can log in (the mapping follows session_user), is a member of
    /// visibility_producer (the confining policy applies to its members), and is
    /// neither a superuser nor a worker (both see every app).
    static let describeProducerRole = """
        SELECT r.rolcanlogin, r.rolsuper,
               coalesce((SELECT pg_catalog.pg_has_role(r.oid, p.oid, 'MEMBER') FROM pg_catalog.pg_roles AS p
                         WHERE p.rolname = 'visibility_producer'), false),
               coalesce((SELECT pg_catalog.pg_has_role(r.oid, w.oid, 'MEMBER') FROM pg_catalog.pg_roles AS w
                         WHERE w.rolname = 'visibility_worker'), false)
        FROM pg_catalog.pg_roles AS r
        WHERE r.rolname = $1
        """

    static let appExists = "SELECT EXISTS (SELECT 1 FROM visibility_apps WHERE name = $1)"

    static let grantAppToProducer = """
        INSERT INTO visibility_app_producers (app, role) VALUES ($1, $2) ON CONFLICT (app, role) DO NOTHING
        """

    static let revokeAppFromProducer = "DELETE FROM visibility_app_producers WHERE app = $1 AND role = $2"

    static let appsOfProducer = """
        SELECT coalesce(array_agg(app ORDER BY app), '{}') FROM visibility_app_producers WHERE role = $1
        """

    static let producersOfApp = """
        SELECT coalesce(array_agg(role ORDER BY role), '{}') FROM visibility_app_producers WHERE app = $1
        """

    /// Confines producer login `role` to `app` (on top of any apps it has already).
    /// Returns false if it was confined to that app before. Refuses, saying why,
    /// a mapping that would confine nothing.
    @discardableResult
    public func grantApp(_ app: String, toProducer role: String) throws -> Bool {
        try mappingChange {
            try connection.transaction { connection in
                guard try connection.query(Self.appExists, [app]).first?.decode(0, as: Bool.self) == true else {
                    throw GrantAppError("no app named '\(app)' (see `visibility-worker apps list`)")
                }
                try Self.checkConfinable(role, on: connection)
                return try connection.query(Self.grantAppToProducer, [app, role]).affectedRows == 1
            }
        }
    }

    /// Lifts `role`'s confinement to `app`; returns the apps it is still confined
    /// to. Empty means it is unconfined again: it sees and inserts every app's jobs.
    public func revokeApp(_ app: String, fromProducer role: String) throws -> [String] {
        try mappingChange {
            try connection.transaction { connection in
                guard try connection.query(Self.revokeAppFromProducer, [app, role]).affectedRows == 1 else {
                    let apps = try Self.apps(ofProducer: role, on: connection)
                    throw GrantAppError("role '\(role)' is not confined to app '\(app)'"
                        + (apps.isEmpty ? " (it is confined to no app)" : " (its apps: \(apps.joined(separator: ", ")))"))
                }
                return try Self.apps(ofProducer: role, on: connection)
            }
        }
    }

    static func producerRoles(ofApp app: String, on connection: PostgresConnection) throws -> [String] {
        try connection.query(producersOfApp, [app]).first?.decode(0, as: [String].self) ?? []
    }

    private static func apps(ofProducer role: String, on connection: PostgresConnection) throws -> [String] {
        try connection.query(appsOfProducer, [role]).first?.decode(0, as: [String].self) ?? []
    }

    private static func checkConfinable(_ role: String, on connection: PostgresConnection) throws {
        guard let row = try connection.query(describeProducerRole, [role]).first else {
            throw GrantAppError("no role named '\(role)' in this cluster (pg_roles)")
        }
        let (canLogin, isSuperuser, isProducer, isWorker): (Bool, Bool, Bool, Bool) =
            (try row.decode(0), try row.decode(1), try row.decode(2), try row.decode(3))
        if isSuperuser {
            throw GrantAppError("role '\(role)' is a superuser: row-level security does not apply to it")
        }
        if isWorker {
            throw GrantAppError("role '\(role)' is a member of visibility_worker, which sees every app's jobs: "
                + "use separate logins for producing and working")
        }
        if !isProducer {
            throw GrantAppError("role '\(role)' is not a member of visibility_producer, so a mapping would not confine it: "
                + "GRANT visibility_producer TO \(role) first")
        }
        if !canLogin {
            throw GrantAppError("role '\(role)' cannot log in: confinement follows the login (session_user), "
                + "so map each login that produces, not a group role")
        }
    }

    /// Only the schema owner changes the mapping (sql/013): say so instead of a bare permission error.
    private func mappingChange<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as PostgresError where error.sqlState == "42501" {
            throw GrantAppError("only the schema owner may change which apps a producer is confined to: "
                + "run this as the user that runs `migrate`")
        }
    }
}
