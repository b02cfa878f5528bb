import Foundation
import GrantQueue
import Postgres
import QueueReadModels
import XCTest

final class StatusTests: DatabaseTestCase {
    func testStatusJSONReportsTheSeededCounts() throws {
        try insertJobs(7)
        try connection.query("""
            UPDATE visibility_grant_jobs SET state = CASE
                WHEN id <= 2 THEN 'succeeded' WHEN id = 3 THEN 'failed' WHEN id = 4 THEN 'cancelled' ELSE 'pending' END,
              last_error_code = CASE WHEN id = 3 THEN 'invalid.param' WHEN id = 5 THEN 'system.busy' END,
              run_at = CASE WHEN id = 6 THEN now() + interval '1 hour' ELSE now() - interval '10 seconds' END
            """)
        try connection.query("""
            INSERT INTO visibility_workers (id, host, pid, in_flight, pause_reason, paused_until, paused_since, version)
            VALUES ('host-a-1', 'host-a', 1, 4, NULL, NULL, NULL, '1.0.0 (commit abc1234)'),
                   ('host-b-2', 'host-b', 2, 0, 'organization''s monthly API quota used up', now() + interval '5 minutes',
                    now() - interval '2 minutes', NULL)
            """)
        // The audit trail: 3 succeeded and 1 retry in the last minute, 1 failed 30 minutes ago, 1 two hours ago.
        try connection.query("""
            INSERT INTO visibility_grant_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome)
            SELECT 1, 1, 'host-a-1', now(), now() - make_interval(secs => s.age), s.outcome
            FROM (VALUES (5, 'succeeded'), (10, 'succeeded'), (20, 'succeeded'), (30, 'retry'),
                         (1800, 'failed'), (7200, 'succeeded')) AS s (age, outcome)
            """)
        try connection.query("INSERT INTO visibility_workers (id, host, pid, heartbeat_at) VALUES ('gone', 'host-c', 3, now() - interval '1 hour')")

        let result = try runWorker(["status", "--json"], environment: try databaseEnvironment())
        XCTAssertEqual(result.status, 0, result.stderr)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let stats = try decoder.decode(QueueStats.self, from: Data(result.stdout.utf8))
        XCTAssertEqual(stats.countsByState, ["pending": 3, "running": 0, "succeeded": 2, "failed": 1, "cancelled": 1])
        XCTAssertEqual(stats.scheduledPending, 1)
        XCTAssertEqual(try XCTUnwrap(stats.oldestPendingAgeSeconds), 10, accuracy: 5)
        XCTAssertEqual(stats.errorCodes.map { "\($0.code)/\($0.state)/\($0.count)" }.sorted(),
                       ["invalid.param/failed/1", "system.busy/pending/1"])
        XCTAssertEqual(Set(stats.errorCodes.map { "\($0.code) terminal=\($0.terminal)" }),
                       ["invalid.param terminal=true", "system.busy terminal=false"])
        XCTAssertEqual(stats.workers.map(\.id), ["host-a-1", "host-b-2"])
        XCTAssertEqual(stats.workers.map(\.host), ["host-a", "host-b"])
        XCTAssertEqual(stats.workers.map(\.pid), [1, 2])
        XCTAssertEqual(stats.workers.map(\.inFlight), [4, 0])
        XCTAssertEqual(stats.workers.map(\.version), ["1.0.0 (commit abc1234)", nil])
        XCTAssertEqual(stats.workers.map(\.pauseReason), [nil, "organization's monthly API quota used up"])
        let pausedFor = Date().timeIntervalSince(try XCTUnwrap(stats.workers[1].pausedSince))
        XCTAssertEqual(pausedFor, 120, accuracy: 30)
        XCTAssertEqual(stats.lastMinute, QueueStats.Activity(succeeded: 3, failed: 0, retried: 1))
        XCTAssertEqual(stats.lastHour, QueueStats.Activity(succeeded: 3, failed: 1, retried: 1))

        let table = try runWorker(["status"], environment: try databaseEnvironment())
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stdout.contains("pending     3  (1 not due yet)"), table.stdout)
        XCTAssertTrue(table.stdout.contains("invalid.param"), table.stdout)
        XCTAssertTrue(table.stdout.contains("TERMINAL ERRORS"), table.stdout)
        XCTAssertTrue(table.stdout.contains("RETRYING ERRORS"), table.stdout)
        XCTAssertTrue(table.stdout.contains("last minute      3"), table.stdout)
        XCTAssertTrue(table.stdout.contains("PAUSED host-b-2 since"), table.stdout)
        XCTAssertTrue(table.stdout.contains("HEARTBEAT  VERSION"), table.stdout)
        let workerLines = table.stdout.split(separator: "\n").filter { $0.hasPrefix("host-") }
        XCTAssertEqual(workerLines.map { $0.hasSuffix("s ago    1.0.0 (commit abc1234)") || $0.hasSuffix("s ago    -") }, [true, true],
                       table.stdout)
    }

    func testStatusShowsTheVersionEachRunningWorkerReports() async throws {
        let server = try await startFake()
        let version = try await runWorker(["--version"]).stdout.split(separator: "\n").first.map(String.init) ?? ""
        let worker = try startWorker(["run", "--worker-id", "versioned", "--lease", "2s"], environment: try workerEnvironment(server))
        // Registration writes the version; wipe it and the heartbeat (every lease/3) must write it again.
        try await waitUntil(timeout: .seconds(30), "the worker to register") {
            try count("SELECT count(*) FROM visibility_workers WHERE id = 'versioned' AND version IS NOT NULL") == 1
        }
        try connection.query("UPDATE visibility_workers SET version = NULL WHERE id = 'versioned'")
        try await waitUntil(timeout: .seconds(30), "a heartbeat to report the version again") {
            try count("SELECT count(*) FROM visibility_workers WHERE id = 'versioned' AND version IS NOT NULL") == 1
        }
        let result = try await runWorker(["status", "--json"], environment: try databaseEnvironment())
        XCTAssertEqual(result.status, 0, result.stderr)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let stats = try decoder.decode(QueueStats.self, from: Data(result.stdout.utf8))
        XCTAssertEqual(stats.workers.map(\.version), [version])
        let stopped = try await worker.stop()
        XCTAssertTrue(stopped.stderr.contains("worker started") && stopped.stderr.contains("version=\(version)"), stopped.stderr)
    }

    func testWatchRefreshesUntilStopped() throws {
        try insertJobs(2)
        let watcher = try startWorker(["status", "--watch", "--interval", "200ms", "--json"],
                                      environment: try databaseEnvironment())
        try waitUntil(timeout: .seconds(10), "three refreshes") { watcher.stdoutSoFar.split(separator: "\n").count >= 3 }
        try insertJobs(3)
        try waitUntil(timeout: .seconds(10), "a refresh that sees the new jobs") {
            watcher.stdoutSoFar.split(separator: "\n").contains { $0.contains(#""pending":5"#) }
        }
        let result = try watcher.stop()
        for line in result.stdout.split(separator: "\n") {
            XCTAssertNoThrow(try JSONDecoder().decode(QueueStats.self, from: Data(line.utf8)), String(line))
        }
    }
}
