import DingTalk
import FakeDingTalk
import Foundation
import GrantQueue
import Postgres
import XCTest

/// Attacks on real worker processes: kill -9, dropped database connections,
/// a misconfigured app, bad configuration, and a search for leaked secrets.
final class ReliabilityTests: DatabaseTestCase {
    func testAKilledWorkersJobsAreTakenBackAfterTheLeaseAndDoneOnce() async throws {
        let hanging = try await startFake { $0.faults = try .init(parsing: "timeout=1") }
        let healthy = try await startFake()
        try insertJobs(5)
        let doomed = try startWorker(["run", "--concurrency", "5", "--lease", "2s", "--request-timeout", "60s"],
                                     environment: try workerEnvironment(hanging))
        try await waitUntil(timeout: .seconds(30), "the doomed worker to hold every job") {
            try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'running'") == 5 && hanging.state.stats.inFlight >= 5
        }
        kill(doomed.process.processIdentifier, SIGKILL)
        _ = try await doomed.wait(timeout: .seconds(10))

        let rescuer = try await runWorker(["run", "--until-empty", "--lease", "2s", "--poll-interval", "100ms", "--backoff-max", "3s"],
                                    environment: try workerEnvironment(healthy), timeout: .seconds(60))
        XCTAssertEqual(rescuer.status, 0, rescuer.stderr)
        XCTAssertTrue(rescuer.stderr.contains("took back jobs"), rescuer.stderr)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded' AND attempts = 2"), 5)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_attempts WHERE outcome = 'lease_expired' AND attempt = 1"), 5)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_attempts WHERE outcome = 'succeeded' AND attempt = 2"), 5)
        XCTAssertEqual(healthy.state.applied.count, 5)
    }

    func testDroppedDatabaseConnectionsLoseNothing() async throws {
        let server = try await startFake { $0.latency = .milliseconds(100) }
        try insertJobs(600)
        let arguments = ["run", "--until-empty", "--concurrency", "4", "--lease", "3s", "--poll-interval", "100ms", "--backoff-max", "3s"]
        let workers = try (0..<2).map { _ in try startWorker(arguments, environment: try workerEnvironment(server)) }
        let killer = try database.connect()
        var terminated = 0
        // Cut every worker connection ten times while they work.
        for _ in 0..<10 {
            try await waitUntil(timeout: .seconds(10), "workers to connect") {
                try count("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'visibility-worker' AND datname = current_database()") >= 2
            }
            terminated += try killer.query("""
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE application_name = 'visibility-worker' AND datname = current_database()
                """).count
            try await Task.sleep(for: .milliseconds(200))  // let them work a little between cuts (pacing, not synchronisation)
        }
        XCTAssertGreaterThan(terminated, 10)
        for worker in workers {
            let result = try await worker.wait(timeout: .seconds(120))
            XCTAssertEqual(result.status, 0, result.stderr)
            let outages = result.stderr.components(separatedBy: "database unavailable").count - 1
            let recoveries = result.stderr.components(separatedBy: "database reachable again").count - 1
            XCTAssertLessThanOrEqual(outages, recoveries + 1, "an outage must be logged once, not per retry:\n\(result.stderr)")
        }
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded'"), 600)
        let applied = server.state.applied.map(\.optUserId)
        XCTAssertEqual(Set(applied).count, 600, "every job reached the API")
        XCTAssertEqual(applied.count, 600, "a lost write must not make a finished job run again")
    }

    func testAMisconfiguredAppPausesTheWorkerWithoutFailingJobsAndItResumesOnceFixed() async throws {
        try await checkPauseWithoutFailingJobs(.ipNotInWhiteList)
    }

    func testAUsedUpMonthlyQuotaPausesTheWorkerWithoutFailingJobsAndItResumesWhenRestored() async throws {
        try await checkPauseWithoutFailingJobs(.apiCountLimitForOrg)
    }

    private func checkPauseWithoutFailingJobs(_ code: DingTalkErrorCode) async throws {
        let server = try await startFake { options in options.recordTimeline = true }
        server.state.forceError(code)
        try insertJobs(20)
        let worker = try startWorker(["run", "--until-empty", "--concurrency", "4", "--config-probe-interval", "1s", "--quota-pause", "1s", "--poll-interval", "100ms",
                                      "--backoff-max", "2s"], environment: try workerEnvironment(server))
        // The app's pause, for the whole fleet (sql/010_apps.sql).
        try await waitUntil(timeout: .seconds(30), "the pause to show in visibility_apps") {
            try count("SELECT count(*) FROM visibility_apps WHERE name = 'default' AND pause_reason LIKE '%\(code.code)%'") == 1
        }
        let status = try await runWorker(["status"], environment: try databaseEnvironment())
        XCTAssertTrue(status.stdout.contains("PAUSED"), status.stdout)
        XCTAssertTrue(status.stdout.contains(code.code), status.stdout)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'failed' OR attempts > 0 AND state = 'pending'"), 0,
                       "no job may fail or use up an attempt for \(code.code)")
        // A paused worker probes, to notice the app is fixed: one call per 1 s interval,
        // not a batch. Read from when the API saw each call: consecutive probes are at
        // least an interval apart, a bound a slow machine can only widen.
        let callsAtPause = server.state.stats.calls
        try await waitUntil(timeout: .seconds(30), "three probe calls") { server.state.stats.calls >= callsAtPause + 3 }
        let arrivals = server.state.callArrivals
        let probes = Array(arrivals[callsAtPause...])
        let gaps = zip(probes.dropFirst(), probes).map { $0 - $1 }
        XCTAssertFalse(gaps.isEmpty)
        XCTAssertGreaterThanOrEqual(gaps.min() ?? 0, 0.9, "a paused worker must stop calling, probing one call per interval: \(gaps)")

        server.state.forceError(nil)
        let result = try await worker.wait(timeout: .seconds(60))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("pausing API calls"), result.stderr)
        XCTAssertTrue(result.stderr.contains("resuming calls"), result.stderr)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded'"), 20)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE attempts <> 1"), 0)
    }

    func testInvalidConfigurationIsRefusedNamingTheSetting() throws {
        let base = ["DATABASE_URL": try database.conninfo(), "DINGTALK_ACCESS_TOKEN": "t", "DINGTALK_BASE_URL": "http://127.0.0.1:9"]
        let cases: [([String], [String: String], String)] = [
            (["run", "--concurrency", "0"], base, "--concurrency"),
            (["run", "--lease", "soon"], base, "--lease"),
            (["run", "--lease", "2h"], base, "--lease"),
            (["run", "--qps", "inf"], base, "--qps"),
            (["run", "--global-qps", "1e12"], base, "--global-qps"),
            (["run", "--backoff-max", "100000d"], base, "--backoff-max"),
            (["run"], base.merging(["VISIBILITY_WORKER_LEASE": "abc"]) { $1 }, "VISIBILITY_WORKER_LEASE"),
            (["run"], base.merging(["DINGTALK_BASE_URL": "ftp://x"]) { $1 }, "DINGTALK_BASE_URL"),
            (["run"], base.merging(["DINGTALK_ACCESS_TOKEN": "", "DINGTALK_APP_KEY": "k"]) { $1 }, "DINGTALK_APP_SECRET"),
            (["run"], base.merging(["DINGTALK_ACCESS_TOKEN": "", "DINGTALK_APP_KEY": "k", "DINGTALK_APP_SECRET_FILE": "/nonexistent/secret"]) { $1 },
             "DINGTALK_APP_SECRET_FILE"),
            (["run", "--log-level", "loud"], base, "--log-level"),
            (["status"], ["DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x?connect_timeout=2"], "127.0.0.1"),
        ]
        for (arguments, environment, expected) in cases {
            let result = try runWorker(arguments, environment: environment, timeout: .seconds(20))
            XCTAssertNotEqual(result.status, 0, "\(arguments) \(environment) was accepted")
            XCTAssertTrue(result.stderr.contains(expected), "\(arguments): the message must name \(expected):\n\(result.stderr)")
            XCTAssertFalse(result.stderr.contains("Fatal error"), result.stderr)
        }
    }

    func testNoSecretOrTokenAppearsInLogsStatusOrTheDatabase() async throws {
        let secret = "s3cr3t-VALUE-7f9a2c"
        let server = try await startFake { options in
            options.appSecret = secret
            options.faults = try .init(parsing: "system.busy=0.3")
        }
        try insertJobs(30)
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id) VALUES ('{not-a-corp}', 'u')")
        var environment = try workerEnvironment(server, secret: secret)
        environment["LOG_LEVEL"] = "trace"
        let run = try await runWorker(["run", "--until-empty", "--backoff-base", "20ms", "--backoff-max", "200ms", "--poll-interval", "100ms"],
                                environment: environment, timeout: .seconds(60))
        XCTAssertEqual(run.status, 0, run.stderr)
        // And a run with the wrong secret, whose errors are about the secret.
        environment["DINGTALK_APP_SECRET"] = "wrong-" + secret
        try insertJobs(1)
        let refused = try startWorker(["run", "--config-probe-interval", "60s"], environment: environment)
        try await waitUntil(timeout: .seconds(30), "the config error") {
            try count("SELECT count(*) FROM visibility_apps WHERE pause_reason IS NOT NULL") >= 1
        }
        refused.process.terminate()
        let refusedResult = try await refused.wait(timeout: .seconds(30))
        let status = try await runWorker(["status", "--json"], environment: try databaseEnvironment())
        let tables = try ["visibility_grant_jobs", "visibility_grant_attempts", "visibility_workers", "visibility_apps"].map { table in
            try connection.query("SELECT coalesce(string_agg(to_jsonb(t)::text, E'\\n'), '') FROM \(table) t").first?.decode(0, as: String.self) ?? ""
        }.joined(separator: "\n")
        let tokens = server.state.issuedTokens
        XCTAssertFalse(tokens.isEmpty)
        let everything = [run.stdout, run.stderr, refusedResult.stdout, refusedResult.stderr, status.stdout, status.stderr, tables]
        for (index, text) in everything.enumerated() {
            XCTAssertFalse(text.contains(secret), "the app secret leaked into output #\(index)")
            for token in tokens { XCTAssertFalse(text.contains(token), "an access token leaked into output #\(index)") }
        }
        // The scan saw real log output at the level asked for: the debug line of the refused job.
        XCTAssertTrue(run.stderr.contains("worker started"), run.stderr)
        XCTAssertTrue(run.stderr.contains("job failed"), "no debug line at trace level:\n\(run.stderr)")
        XCTAssertTrue(tables.contains("invalidClientIdOrSecret"), "the refusal must still be visible to operators")
    }
}
