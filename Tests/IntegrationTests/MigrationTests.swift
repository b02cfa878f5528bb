import Foundation
@testable import GrantQueue
import Postgres
import XCTest

final class MigrationTests: DatabaseTestCase {
    override var migrateDatabase: Bool { false }

    private var migrator: SchemaMigrator {
        get throws { try SchemaMigrator(directory: TestEnvironment.migrationsDirectory, logger: TestEnvironment.logger) }
    }

    func testSecondRunDoesNothing() throws {
        let migrator = try migrator
        XCTAssertEqual(try migrator.migrate(connection).count, migrator.migrations.count)
        XCTAssertEqual(try migrator.migrate(connection), [])
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_schema_migrations"),
                       migrator.migrations.count)
    }

    func testTwoProcessesMigratingAtOnceBothSucceedAndApplyOnce() throws {
        let environment = try databaseEnvironment()
        let arguments = ["migrate", "--migrations-dir", TestEnvironment.migrationsDirectory.path]
        let first = try startWorker(arguments, environment: environment)
        let second = try startWorker(arguments, environment: environment)
        let results = [try first.wait(timeout: .seconds(60)), try second.wait(timeout: .seconds(60))]
        for result in results {
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        // Each file is applied under its own lock, so the two may share the work; together
        // they applied every migration exactly once.
        let applied = results.flatMap { result -> [String] in
            guard let list = result.stdout.split(separator: "\n").first?.split(separator: ":", maxSplits: 1).dropFirst().first,
                  result.stdout.hasPrefix("applied") else { return [] }
            return list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        XCTAssertEqual(applied.sorted(), try migrator.migrations.map(\.name), "\(results.map(\.stdout))")
        let versions = try connection.query("SELECT version FROM visibility_schema_migrations ORDER BY version")
            .map { try $0.decode(0, as: Int.self) }
        XCTAssertEqual(versions, try migrator.migrations.map(\.version))
        XCTAssertEqual(try connection.query("SELECT to_regclass('visibility_grant_jobs') IS NOT NULL").first?.decode(0, as: Bool.self), true)
    }

    func testTheRequiredVersionIsTheNewestMigration() throws {
        XCTAssertEqual(try migrator.migrations.map(\.version).max(), SchemaMigrator.requiredVersion,
                       "a new sql/ migration needs SchemaMigrator.requiredVersion raised with it")
    }

    func testAWorkerRefusesAnOlderSchemaAndSaysToMigrate() async throws {
        let environment = ["DATABASE_URL": try database.conninfo(), "DINGTALK_ACCESS_TOKEN": "t",
                           "DINGTALK_BASE_URL": "http://127.0.0.1:9"]
        let never = try runWorker(["run", "--until-empty"], environment: environment)
        XCTAssertNotEqual(never.status, 0)
        XCTAssertTrue(never.stderr.contains("the database schema is at migration 0, this build needs \(SchemaMigrator.requiredVersion)"),
                      never.stderr)

        // Every migration but the newest: what a new build meets when it starts before `migrate` ran.
        let older = SchemaMigrator(migrations: try migrator.migrations.filter { $0.version < SchemaMigrator.requiredVersion },
                                       logger: TestEnvironment.logger)
        _ = try older.migrate(connection)
        // Migration numbers may have gaps, so the newest applied one is not always requiredVersion - 1.
        let newestApplied = try XCTUnwrap(older.migrations.map(\.version).max())
        let behind = try runWorker(["run", "--until-empty"], environment: environment)
        XCTAssertNotEqual(behind.status, 0)
        XCTAssertTrue(behind.stderr.contains("at migration \(newestApplied), this build needs \(SchemaMigrator.requiredVersion): run `visibility-worker migrate` first"),
                      behind.stderr)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_workers"), 0, "it did not register")
    }

    func testAnEditedAppliedMigrationIsRefused() throws {
        let original = try migrator
        try original.migrate(connection)
        var edited = original.migrations
        edited[0] = Migration(version: edited[0].version, name: edited[0].name, sql: edited[0].sql + "\n-- edited\n")
        XCTAssertThrowsError(try SchemaMigrator(migrations: edited, logger: TestEnvironment.logger).migrate(connection)) { error in
            XCTAssertTrue("\(error)".contains("was changed after it was applied"), "\(error)")
        }
    }

    func testSwiftDefaultMaxAttemptsMatchesTheColumnDefault() throws {
        try migrator.migrate(connection)
        let columnDefault = try connection.query("""
            SELECT column_default FROM information_schema.columns
            WHERE table_name = 'visibility_grant_jobs' AND column_name = 'max_attempts'
            """).first?.decode(0, as: String.self)
        XCTAssertEqual(columnDefault, String(NewGrantJob.defaultMaxAttempts))
    }

    func testClaimQueryUsesThePartialIndex() throws {
        try migrator.migrate(connection)
        try insertJobs(5000)
        try connection.query("UPDATE visibility_grant_jobs SET state = 'succeeded' WHERE id % 50 <> 0")
        try connection.query("ANALYZE visibility_grant_jobs")
        let plan = try connection.query("EXPLAIN " + GrantQueue.claimBatch.sql, ["w", 10, 30.0])
            .map { try $0.decode(0, as: String.self) }.joined(separator: "\n")
        XCTAssertTrue(plan.contains("visibility_grant_jobs_claimable"), plan)
    }
}
