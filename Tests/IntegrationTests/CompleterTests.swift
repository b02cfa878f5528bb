import FakeDingTalk
import Foundation
import GrantQueue
import Postgres
import XCTest

/// The completer never drops, loops on or stalls an outcome, and a completion that
/// waits never holds a lease renewal: real worker processes against a database
/// that makes their writes wait or refuses one of them.
final class CompleterTests: DatabaseTestCase {
    /// A test transaction holds a row lock on one job, so the completion carrying that
    /// job waits, past the statement timeout (57014) several times and past several
    /// leases. Meanwhile more jobs are claimed and called; a second worker stands by to
    /// take back any lease that runs out. When the lock goes, every outcome is written:
    /// each job called once, none taken back.
    func testACompletionHeldByARowLockKeepsEveryLeaseAndLosesNoOutcome() async throws {
        let server = try await startFake { $0.latency = .milliseconds(300) }
        try insertJobs(6)
        let arguments = ["run", "--concurrency", "8", "--lease", "2s", "--db-timeout", "3s", "--poll-interval", "100ms",
                         "--backoff-max", "1s"]
        let first = try startWorker(arguments + ["--worker-id", "first"], environment: try workerEnvironment(server))
        try await waitUntil(timeout: .seconds(30), "the first worker to hold every job") {
            try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'running' AND locked_by = 'first'") == 6
        }
        let blocker = try database.connect()
        try blocker.query("BEGIN")
        try blocker.query("SELECT 1 FROM visibility_grant_jobs WHERE opt_user_id = 'user1' FOR UPDATE")
        try await waitUntil(timeout: .seconds(30), "the completion to wait for the row lock") {
            try count("""
                SELECT count(*) FROM pg_stat_activity
                WHERE application_name = 'visibility-worker' AND datname = current_database() AND wait_event_type = 'Lock'
                """) > 0
        }
        let standby = try startWorker(arguments + ["--worker-id", "standby"], environment: try workerEnvironment(server))
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id) SELECT ARRAY['ding' || g], 'late' || g FROM generate_series(1, 4) AS g
            """)
        // Held for five leases (fifteen renewals, each seen as a lease of the first worker
        // moving later), past the statement timeout three times. Counted, not timed.
        var renewals = 0
        var lastSeen: Date?
        try await waitUntil(timeout: .seconds(60), "the first worker's leases to be renewed fifteen times while its completion waits") {
            let latest = try connection.query(
                "SELECT max(locked_until) FROM visibility_grant_jobs WHERE state = 'running' AND locked_by = 'first'"
            ).first?.decode(0, as: Date?.self)
            if let latest, let seen = lastSeen, latest > seen { renewals += 1 }
            lastSeen = latest ?? lastSeen
            return renewals >= 15
        }
        try blocker.query("ROLLBACK")
        try await waitUntil(timeout: .seconds(60), "every job to succeed") {
            try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded'") == 10
        }
        let stopped = [try await first.stop(), try await standby.stop()]
        for result in stopped { XCTAssertEqual(result.status, 0, result.stderr) }
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_attempts WHERE outcome = 'lease_expired'"), 0,
                       "no lease ran out")
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE attempts <> 1"), 0)
        let applied = server.state.applied.map(\.optUserId)
        XCTAssertEqual(applied.count, 10, "each job called once: \(applied.sorted())")
        XCTAssertEqual(Set(applied).count, 10)
        XCTAssertFalse(stopped[0].stderr.contains("dropping"), stopped[0].stderr)
    }

    /// The database refuses one job's outcome for what it carries, and it is the only
    /// outcome to write. The completer writes it without the API's texts, or gives it
    /// up, logs the job id, and goes on: no retry of the same statement for ever, and
    /// the database is not reported down for it.
    func testAnOutcomeTheDatabaseRefusesIsLoggedByJobAndNeverRetriedForEver() async throws {
        let server = try await startFake()
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, max_attempts) VALUES ('{ding1}', 'poison', 2)
            """)
        let id = try XCTUnwrap(try connection.query("SELECT id FROM visibility_grant_jobs").first?.decode(0, as: Int64.self))
        try connection.query("""
            CREATE FUNCTION refuse_poison_success() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'refused for the test' USING ERRCODE = 'check_violation';
            END;
            $$
            """)
        try connection.query("""
            CREATE TRIGGER refuse_poison_success BEFORE UPDATE ON visibility_grant_jobs FOR EACH ROW
                WHEN (NEW.opt_user_id = 'poison' AND NEW.state = 'succeeded') EXECUTE FUNCTION refuse_poison_success();
            """)
        let worker = try startWorker(["run", "--until-empty", "--lease", "2s", "--poll-interval", "100ms", "--backoff-max", "1s"],
                                     environment: try workerEnvironment(server))
        let result = try await worker.wait(timeout: .seconds(90))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("job_id=\(id)"), result.stderr)
        XCTAssertFalse(result.stderr.contains("database unavailable"), "one refused outcome is not an outage:\n\(result.stderr)")
        // Refused as a success each time: the job ran out of attempts through its leases.
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'failed' AND attempts = 2"), 1)
        XCTAssertEqual(server.state.applied.count, 2)
    }
}
