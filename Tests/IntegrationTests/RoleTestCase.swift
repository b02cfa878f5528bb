import Foundation
import Postgres
import XCTest

/// A test case that logs in as members of the roles in sql/005_roles.sql (or as
/// any other role it creates). Roles belong to the whole cluster, so each login
/// is named after the test's database and dropped in `tearDown`.
class RoleTestCase: DatabaseTestCase {
    private var createdUsers: [String] = []

    override func tearDown() {
        for user in createdUsers {
            _ = try? connection.query("DROP OWNED BY \(user)")
            _ = try? connection.query("DROP ROLE IF EXISTS \(user)")
        }
        createdUsers = []
        super.tearDown()
    }

    /// Creates a login in `role` (nil: in no role; `grant` then says what it may do).
    func createLogin(in role: String?, named prefix: String? = nil, grant: String? = nil) throws -> String {
        let user = "\(prefix ?? role ?? "login")_\(database.name)"
        try connection.query("CREATE ROLE \(user) LOGIN" + (role.map { " IN ROLE \($0)" } ?? ""))
        createdUsers.append(user)
        if let grant { try connection.query(grant.replacingOccurrences(of: "{user}", with: user)) }
        return user
    }

    func connect(as user: String) throws -> PostgresConnection {
        var configuration = database.configuration
        configuration.overrides["user"] = user
        return try PostgresConnection(configuration: configuration, logger: TestEnvironment.logger)
    }

    /// A new login in `role`, connected.
    func login(as role: String) throws -> PostgresConnection {
        try connect(as: try createLogin(in: role))
    }

    /// What a command needs to reach this test's database as `user`.
    func databaseEnvironment(as user: String) throws -> [String: String] {
        var configuration = database.configuration
        configuration.overrides["user"] = user
        configuration.applicationName = "visibility-worker"
        return ["DATABASE_URL": try configuration.resolvedConninfo()]
    }
}
