import Foundation
@testable import GrantQueue
import Postgres
@testable import QueueHotPath
import XCTest

/// The gate holds for workers that are already running (sql/018_claim_fence.sql):
/// a claim from a build older than `oldest_worker_schema` is refused, whatever SQL
/// it claims with, and a running worker of this build stops when a migration raises
/// the gate past it.
final class ClaimFenceTests: DatabaseTestCase {
    /// The claim of a build from before 010 (apps), word for word: it takes any app's jobs.
    static let claimBeforeApps = """
        WITH next AS (
            SELECT j.id
            FROM visibility_grant_jobs AS j
            WHERE j.state = 'pending' AND j.run_at <= now()
              AND (j.ordering_key IS NULL OR NOT EXISTS (
                    SELECT 1 FROM visibility_grant_jobs AS older
                    WHERE older.ordering_key = j.ordering_key AND older.id < j.id
                      AND older.state IN ('pending', 'running')))
            ORDER BY j.priority DESC, j.run_at, j.id
            LIMIT $2
            FOR UPDATE SKIP LOCKED
        )
        UPDATE visibility_grant_jobs AS j
        SET state = 'running',
            locked_by = $1,
            locked_until = now() + make_interval(secs => $3::float8),
            attempts = j.attempts + 1,
            updated_at = now()
        FROM next
        WHERE j.id = next.id
        RETURNING j.id, j.to_corp_ids, j.opt_user_id, j.fields, j.attempts, j.max_attempts, j.locked_until, j.priority
        """

    private func insertJobsOfTwoApps() throws {
        try connection.query("INSERT INTO visibility_apps (name, app_key) VALUES ('second', 'second-key')")
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, app)
            SELECT ARRAY['ding1'], 'user-' || g, CASE WHEN g % 2 = 0 THEN 'second' ELSE 'default' END
            FROM generate_series(1, 10) AS g
            """)
    }

    func testAClaimFromABuildBeforeAppsIsRefusedWithTheGatesMessage() throws {
        try insertJobsOfTwoApps()
        XCTAssertThrowsError(try connection.query(Self.claimBeforeApps, ["old-worker", 10, 30.0])) { error in
            let error = error as? PostgresError
            XCTAssertEqual(error?.sqlState, "55000")
            // The gate the schema holds: the last one a migration raised (020), not this build's own.
            let gate = try? XCTUnwrap(self.connection.query("SELECT oldest_worker_schema FROM visibility_schema_compatibility").first?.decode(0, as: Int.self))
            XCTAssertEqual(error?.message, "claim refused: this database needs workers built for migration "
                + "\(gate ?? -1) or later, and this worker's build is older than migration 18")
        }
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'pending'"), 10, "nothing was claimed")
    }

    func testThisBuildsClaimsPassAndRunningJobsStillFinish() throws {
        try insertJobsOfTwoApps()
        let queue = try GrantQueue(configuration: database.configuration, logger: TestEnvironment.logger)
        let claimed = try queue.claim(workerID: "new-worker", limit: 10, lease: .seconds(30), app: "second")
        XCTAssertEqual(claimed.count, 5)
        XCTAssertTrue(claimed.allSatisfy { $0.app == "second" })

        // A claim made before the fence still finishes, by whatever build made it: lease
        // extensions, outcomes and rescues are not claims.
        try connection.query("""
            UPDATE visibility_grant_jobs SET locked_until = now() + interval '1 minute' WHERE state = 'running'
            """)
        try connection.query("""
            UPDATE visibility_grant_jobs SET state = 'succeeded', finished_at = now(), locked_by = NULL, locked_until = NULL
            WHERE id = $1
            """, [claimed[0].id])
        try connection.query("UPDATE visibility_grant_jobs SET locked_until = now() - interval '1 second' WHERE id = $1", [claimed[1].id])
        XCTAssertEqual(try queue.rescueExpiredLeases().count, 1)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'running'"), 3)
    }

    func testAClaimThatNamesAnOlderMigrationThanTheGateIsRefused() throws {
        try insertJobsOfTwoApps()
        try connection.query("UPDATE visibility_schema_compatibility SET oldest_worker_schema = $1", [SchemaMigrator.requiredVersion + 1])
        let queue = try GrantQueue(configuration: database.configuration, logger: TestEnvironment.logger)
        XCTAssertThrowsError(try queue.claim(workerID: "w", limit: 10, lease: .seconds(30))) { error in
            XCTAssertTrue("\(error)".contains("this worker's build knows up to migration \(SchemaMigrator.requiredVersion)"), "\(error)")
        }
    }

    func testARunningWorkerStopsWhenAMigrationRaisesTheGatePastIt() async throws {
        let server = try await startFake()
        let worker = try startWorker(["run", "--worker-id", "gated", "--lease", "3s"], environment: try workerEnvironment(server))
        try await waitUntil(timeout: .seconds(30), "the worker to register") {
            try count("SELECT count(*) FROM visibility_workers WHERE id = 'gated'") == 1
        }
        let next = SchemaMigrator.requiredVersion + 1
        try connection.query("UPDATE visibility_schema_compatibility SET oldest_worker_schema = $1", [next])
        // The next heartbeat (every lease/3) reads the gate; the worker drains and exits.
        let result = try await worker.wait(timeout: .seconds(30))
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("the database schema needs workers built for migration \(next) or later; "
            + "this build knows up to \(SchemaMigrator.requiredVersion): upgrade this worker"), result.stderr)
    }
}
