import Foundation
@testable import GrantQueue
import Postgres
@testable import QueueHotPath
import XCTest

/// `migrate` beside a running queue: it finishes what an interrupted run left, builds
/// again an index a crash left INVALID, and never keeps claims or inserts waiting
/// behind a lock it cannot get (docs/DESIGN.md, "Migrations").
final class MigrationResumeTests: DatabaseTestCase {
    override var migrateDatabase: Bool { false }

    private var migrator: SchemaMigrator {
        get throws { try SchemaMigrator(directory: TestEnvironment.migrationsDirectory, logger: TestEnvironment.logger) }
    }

    private func migrate(_ extra: [String] = []) async throws -> ProcessResult {
        try await runWorker(["migrate", "--migrations-dir", TestEnvironment.migrationsDirectory.path] + extra,
                            environment: try databaseEnvironment())
    }

    private func statusLine(_ status: String, _ migration: String) -> String? {
        status.split(separator: "\n").first { $0.hasPrefix(migration + " ") }.map(String.init)
    }

    private func indexIsValid(_ name: String) throws -> Bool? {
        try connection.query("""
            SELECT x.indisvalid FROM pg_index AS x JOIN pg_class AS i ON i.oid = x.indexrelid WHERE i.relname = $1
            """, [name]).first?.decode(0)
    }

    func testStatusListsEveryMigrationAsPendingThenApplied() async throws {
        let before = try await migrate(["--status"])
        XCTAssertEqual(before.status, 0, before.stderr)
        let names = try migrator.migrations.map(\.name)
        for name in names {
            XCTAssertEqual(statusLine(before.stdout, name)?.hasSuffix(" pending"), true, before.stdout)
        }
        XCTAssertTrue(before.stdout.contains("0 applied, \(names.count) pending"), before.stdout)

        let applied = try await migrate()
        XCTAssertEqual(applied.status, 0, applied.stderr)
        let after = try await migrate(["--status"])
        for name in names {
            XCTAssertTrue(statusLine(after.stdout, name)?.contains(" applied ") == true, after.stdout)
        }
        // The gate is the last one a migration raised (020's); 021 left it.
        XCTAssertTrue(after.stdout.contains("\(names.count) applied, 0 pending; oldest_worker_schema 20"),
                      after.stdout)
    }

    /// What a `migrate` killed between its commit and the indexes after it leaves: the
    /// history row still counts them, and the next `migrate` builds them.
    func testAMigrateCutOffAfterItsCommitIsFinishedByTheNextOne() async throws {
        let first = try await migrate()
        XCTAssertEqual(first.status, 0, first.stderr)
        try connection.query("DROP INDEX visibility_grant_jobs_ordering_arrivals")
        try connection.query("DROP INDEX visibility_grant_jobs_ordering_line")
        try connection.query("UPDATE visibility_schema_migrations SET after_commit_pending = 2 WHERE version = 17")

        let status = try await migrate(["--status"])
        XCTAssertEqual(statusLine(status.stdout, "017_ordering_without_producer_locks")?.contains(
            "incomplete  2 statements after its commit still to run"), true, status.stdout)

        let finished = try await migrate()
        XCTAssertEqual(finished.status, 0, finished.stderr)
        XCTAssertTrue(finished.stderr.contains("finishing a migration an earlier migrate left half done"), finished.stderr)
        XCTAssertEqual(try indexIsValid("visibility_grant_jobs_ordering_arrivals"), true)
        XCTAssertEqual(try indexIsValid("visibility_grant_jobs_ordering_line"), true)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_schema_migrations WHERE after_commit_pending > 0"), 0)
    }

    /// A CREATE INDEX CONCURRENTLY that fails leaves an INVALID index that `IF NOT
    /// EXISTS` would skip for ever; `migrate` drops it and builds the real one.
    func testAnIndexLeftInvalidIsBuiltAgain() async throws {
        let first = try await migrate()
        XCTAssertEqual(first.status, 0, first.stderr)
        try connection.query("DROP INDEX visibility_grant_jobs_ordering_line")
        try insertJobs(2)
        // Two jobs of one app: the unique build fails half way and leaves its index behind.
        XCTAssertThrowsError(try connection.query(
            "CREATE UNIQUE INDEX CONCURRENTLY visibility_grant_jobs_ordering_line ON visibility_grant_jobs (app)"))
        XCTAssertEqual(try indexIsValid("visibility_grant_jobs_ordering_line"), false)
        let status = try await migrate(["--status"])
        XCTAssertTrue(status.stdout.contains("INVALID index visibility_grant_jobs_ordering_line"), status.stdout)

        let repaired = try await migrate()
        XCTAssertEqual(repaired.status, 0, repaired.stderr)
        XCTAssertEqual(try indexIsValid("visibility_grant_jobs_ordering_line"), true)
        let definition: String = try XCTUnwrap(connection.query(
            "SELECT pg_get_indexdef('visibility_grant_jobs_ordering_line'::regclass)").first?.decode(0))
        XCTAssertTrue(definition.contains("(ordering_key, ordering_seq NULLS FIRST, id)"), definition)
        let after = try await migrate(["--status"])
        XCTAssertFalse(after.stdout.contains("INVALID"), after.stdout)
    }

    /// A producer's open transaction holds the lock 019's new column needs. `migrate`
    /// waits at most --lock-timeout each try, rolls back, names the session, and tries
    /// again; claims and inserts meanwhile wait no longer than that. Once the producer
    /// commits, the migrations apply.
    func testAMigrationBehindAnOpenTransactionNeverHoldsTheQueue() async throws {
        let upTo18 = SchemaMigrator(migrations: try migrator.migrations.filter { $0.version <= 18 }, logger: TestEnvironment.logger)
        try upTo18.migrate(connection)
        let producer = try database.connect()
        try producer.query("BEGIN")
        try insertJobs(1, on: producer)

        let migrating = try startWorker(["migrate", "--migrations-dir", TestEnvironment.migrationsDirectory.path,
                                         "--lock-timeout", "200ms"], environment: try databaseEnvironment())
        // The probe claims as a build for 018 does (its statement runs on schema 18).
        let probe = try GrantQueue(configuration: database.configuration, logger: TestEnvironment.logger)
        try probe.connection.query("SELECT set_config('visibility.worker_schema', '18', false)")
        var longest = Duration.zero
        var probes = 0
        // Insert and claim, again and again, while the migration tries: at least 3 tries.
        try await waitUntil(timeout: .seconds(60), "three tries of the migration") {
            let started = ContinuousClock.now
            try insertJobs(1, on: probe.connection)
            try probe.connection.query("""
                UPDATE visibility_grant_jobs SET state = 'running', locked_by = 'probe', locked_until = now() + interval '1 minute',
                       attempts = attempts + 1
                WHERE id = (SELECT id FROM visibility_grant_jobs WHERE state = 'pending' AND NOT ordering_blocked
                            ORDER BY priority DESC, run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                """)
            longest = max(longest, ContinuousClock.now - started)
            probes += 1
            return migrating.stderrSoFar.components(separatedBy: "migration waits for a lock").count > 3
        }
        XCTAssertTrue(migrating.stderrSoFar.contains("idle in transaction"), migrating.stderrSoFar)
        try producer.query("COMMIT")
        let result = try await migrating.wait(timeout: .seconds(60))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("applied 4 migrations: 019_claim_reads_only_what_it_takes, 020_claim_by_position, 021_traces_and_app_signals, 022_status_at_any_size"), result.stdout)
        // The queue kept moving through every try: probes completed between them. Each
        // waited at most one lock timeout (200 ms); the bound leaves room for a busy
        // machine, and catches a migration that queues the probe for its whole wait.
        let tries = result.stderr.components(separatedBy: "migration waits for a lock").count - 1
        XCTAssertGreaterThan(probes, tries, "\(probes) probes over \(tries) tries")
        XCTAssertLessThan(longest, .seconds(5), "the longest insert and claim took \(longest) over \(probes) probes")
    }
}
