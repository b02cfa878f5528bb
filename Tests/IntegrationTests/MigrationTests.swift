import Foundation
@testable import GrantQueue
import Postgres
@testable import QueueHotPath
@testable import QueueOperations
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
        let never = try await runWorker(["run", "--until-empty"], environment: environment)
        XCTAssertNotEqual(never.status, 0)
        XCTAssertTrue(never.stderr.contains("the database schema is at migration 0, this build needs \(SchemaMigrator.requiredVersion)"),
                      never.stderr)

        // Every migration but the newest: what a new build meets when it starts before `migrate` ran.
        // (Numbers may have gaps while parallel branches land, so the one before is looked up.)
        let older = SchemaMigrator(migrations: try migrator.migrations.filter { $0.version < SchemaMigrator.requiredVersion },
                                       logger: TestEnvironment.logger)
        let previous = try XCTUnwrap(older.migrations.last?.version)
        _ = try older.migrate(connection)
        let behind = try await runWorker(["run", "--until-empty"], environment: environment)
        XCTAssertNotEqual(behind.status, 0)
        XCTAssertTrue(behind.stderr.contains("at migration \(previous), this build needs \(SchemaMigrator.requiredVersion): run `visibility-worker migrate` first"),
                      behind.stderr)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_workers"), 0, "it did not register")
    }

    func testAWorkerRunsOnANewerCompatibleSchemaAndRefusesAnIncompatibleOne() throws {
        let environment = ["DATABASE_URL": try database.conninfo(), "DINGTALK_ACCESS_TOKEN": "t",
                           "DINGTALK_BASE_URL": "http://127.0.0.1:9"]
        let known = try migrator.migrations
        let next = SchemaMigrator.requiredVersion + 1
        // What a later release might add while this one still runs: a column this build never names.
        let compatible = Migration(version: next, name: "\(next)_compatible",
                                   sql: "ALTER TABLE visibility_workers ADD COLUMN later_column int NULL")
        try SchemaMigrator(migrations: known + [compatible], logger: TestEnvironment.logger).migrate(connection)
        let ahead = try runWorker(["run", "--until-empty"], environment: environment)
        XCTAssertEqual(ahead.status, 0, ahead.stderr)
        XCTAssertTrue(ahead.stderr.contains("newer than this build and keeps it working"), ahead.stderr)

        // One this build cannot live with declares so, and the worker stops before it registers.
        let incompatible = Migration(version: next + 1, name: "\(next + 1)_incompatible",
                                     sql: "UPDATE visibility_schema_compatibility SET oldest_worker_schema = \(next + 1)")
        try SchemaMigrator(migrations: known + [compatible, incompatible], logger: TestEnvironment.logger).migrate(connection)
        let refused = try runWorker(["run", "--until-empty"], environment: environment)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains(
            "at migration \(next + 1), which needs workers built for migration \(next + 1) or later; this build knows up to \(next - 1): upgrade this worker"),
                      refused.stderr)
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
        let plan = try connection.query("EXPLAIN " + GrantQueue.claimBatch.sql, GrantQueue.claimParameters(workerID: "w", limit: 10, lease: .seconds(30)))
            .map { try $0.decode(0, as: String.self) }.joined(separator: "\n")
        XCTAssertTrue(plan.contains("visibility_grant_jobs_claim_order"), plan)
    }

    /// sql/009 on a database that 001-007 built and filled: every row stays, the
    /// rows that break a new bound are dealt with as the migration says, and the
    /// constraints end up validated where the old rows allow it.
    func testTheProducerContractAppliesToAFilledOlderSchema() throws {
        let upTo7 = SchemaMigrator(migrations: try migrator.migrations.filter { $0.version <= 7 }, logger: TestEnvironment.logger)
        try upTo7.migrate(connection)
        try insertJobs(200)
        // What a worker of that schema did: 20 claimed, 10 of them succeeded (in that schema's SQL).
        let claimed = try connection.query("""
            UPDATE visibility_grant_jobs SET state = 'running', locked_by = 'w', locked_until = now() + interval '60 seconds',
                attempts = attempts + 1
            WHERE id IN (SELECT id FROM visibility_grant_jobs ORDER BY id LIMIT 20) RETURNING id, attempts
            """).map { (id: try $0.decode(0, as: Int64.self), attempt: try $0.decode(1, as: Int32.self)) }.sorted { $0.id < $1.id }
        try connection.query("""
            UPDATE visibility_grant_jobs SET state = 'succeeded', locked_by = NULL, locked_until = NULL, finished_at = now(),
                last_http_status = 200
            WHERE id = ANY($1)
            """, [claimed.prefix(10).map(\.id)])
        // 201: pending with a corp id of 100 characters; 202: succeeded with one;
        // 203: pending with priority 5000; 204: pending, two years ahead.
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, priority, run_at, state, finished_at) VALUES
              (ARRAY[repeat('d', 100)], 'u201', 0, now(), 'pending', NULL),
              (ARRAY[repeat('d', 100)], 'u202', 0, now(), 'succeeded', now()),
              ('{ding203}', 'u203', 5000, now(), 'pending', NULL),
              ('{ding204}', 'u204', 0, now() + interval '2 years', 'pending', NULL)
            """)
        let snapshot = "SELECT id, row_to_json(j)::text FROM visibility_grant_jobs AS j WHERE id <= 200 OR id = 202 ORDER BY id"
        let before = try connection.query(snapshot).map { try $0.decode(1, as: String.self) }

        let upTo9 = SchemaMigrator(migrations: try migrator.migrations.filter { $0.version <= 9 }, logger: TestEnvironment.logger)
        XCTAssertEqual(try upTo9.migrate(connection).last, "009_producer_contract")
        XCTAssertEqual(try connection.query(snapshot).map { try $0.decode(1, as: String.self) }, before,
                       "rows within the bounds, finished or not, are untouched")
        let fixed = try connection.query("""
            SELECT id, state, priority, last_error_code, last_error_message FROM visibility_grant_jobs WHERE id IN (201, 203, 204) ORDER BY id
            """).map { "\(try $0.decode(0, as: Int.self)) \(try $0.decode(1, as: String.self)) \(try $0.decode(2, as: Int.self)) "
                + "\(try $0.decode(3, as: String?.self) ?? "-"): \(try $0.decode(4, as: String?.self) ?? "-")" }
        XCTAssertEqual(fixed.count, 3)
        XCTAssertEqual(fixed[0], "201 failed 0 job.out_of_bounds: failed by migration 009: a corp id over 64 characters")
        XCTAssertEqual(fixed[1], "203 pending 100 -: -", "priority clamped, the job kept")
        XCTAssertTrue(fixed[2].hasPrefix("204 failed 0 job.out_of_bounds: failed by migration 009: run_at more than 366 days ahead ("), fixed[2])
        XCTAssertEqual(try count(), 204)

        // Row 202 (finished long ago in this story) keeps its long corp id, so that one constraint stays NOT VALID.
        let unvalidated = try connection.query("""
            SELECT conname FROM pg_constraint WHERE conrelid = 'visibility_grant_jobs'::regclass AND NOT convalidated
            """).map { try $0.decode(0, as: String.self) }
        XCTAssertEqual(unvalidated, ["to_corp_ids_entries_must_be_at_most_64_characters"])
        // Once migrated to the end, the workers go on: the running jobs complete, the pending ones are claimable.
        try migrator.migrate(connection)
        let queue = GrantQueue(connection: connection)
        XCTAssertEqual(try queue.complete(claimed.suffix(10).map {
            GrantJobOutcome(jobID: $0.id, attempt: $0.attempt, disposition: .succeeded, startedAt: Date(), httpStatus: 200)
        }, workerID: "w").count, 10)
        XCTAssertEqual(try queue.claim(workerID: "w", limit: 500, lease: .seconds(60)).count, 181, "180 untouched and the clamped one")
    }

    /// sql/013 on a database that the migrations before it built and filled: every
    /// job and attempt stays, producers with no mapping still see them all, and a
    /// mapping confines a producer from then on.
    func testAppProducersApplyToAFilledSchemaOfTheMigrationBefore() throws {
        let before = SchemaMigrator(migrations: try migrator.migrations.filter { $0.version < 13 }, logger: TestEnvironment.logger)
        try before.migrate(connection)
        try connection.query("INSERT INTO visibility_apps (name, app_key) VALUES ('acme', 'key-acme')")
        try insertJobs(100)
        try connection.query("UPDATE visibility_grant_jobs SET app = 'acme' WHERE id % 4 = 0")
        try connection.query("""
            INSERT INTO visibility_grant_attempts (job_id, attempt, worker_id, started_at, outcome)
            SELECT id, 1, 'w', now(), 'retry' FROM visibility_grant_jobs WHERE id % 2 = 0
            """)
        let snapshot = """
            SELECT (SELECT string_agg((row_to_json(j)::jsonb - 'ordering_blocked' - 'ordering_seq' - 'scheduled' - 'traceparent')::text, ',' ORDER BY id) FROM visibility_grant_jobs AS j)
                || (SELECT string_agg(row_to_json(a)::text, ',' ORDER BY id) FROM visibility_grant_attempts AS a)
            """  // Later migrations (014's ordering flag, 017's place in line, 019's schedule, 021's trace context) may add columns; the values kept are what counts.
        let rows = try connection.query(snapshot).first?.decode(0, as: String.self)

        let login = "producer_\(database.name)"
        try connection.query("CREATE ROLE \(login) LOGIN IN ROLE visibility_producer")
        defer { _ = try? connection.query("DROP ROLE IF EXISTS \(login)") }
        var configuration = database.configuration
        configuration.overrides["user"] = login
        let producer = try PostgresConnection(configuration: configuration, logger: TestEnvironment.logger)
        defer { producer.close() }

        XCTAssertEqual(try migrator.migrate(connection).first, "013_app_producers")
        XCTAssertEqual(try connection.query(snapshot).first?.decode(0, as: String.self), rows, "every job and attempt kept as it was")
        XCTAssertEqual(try producer.query("SELECT count(*) FROM visibility_grant_jobs").first?.decode(0, as: Int.self), 100,
                       "a producer with no mapping sees every job, as before")
        XCTAssertEqual(try producer.query("SELECT count(*) FROM visibility_grant_attempts").first?.decode(0, as: Int.self), 50)
        try GrantQueue(connection: connection).grantApp("acme", toProducer: login)
        XCTAssertEqual(try producer.query("SELECT count(*) FROM visibility_grant_jobs").first?.decode(0, as: Int.self), 25)
        XCTAssertEqual(try producer.query("SELECT count(*) FROM visibility_grant_attempts").first?.decode(0, as: Int.self), 25)
        XCTAssertEqual(try GrantQueue(connection: connection).claim(workerID: "w", limit: 100, lease: .seconds(60)).count, 75,
                       "the default app's jobs are still claimable")
    }
}
