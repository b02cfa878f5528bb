import FakeDingTalk
import Foundation
import GrantQueue
import Postgres
import QueueReadModels
import XCTest

/// Several DingTalk apps in one queue: each app's credentials, budget and pauses
/// are its own (sql/010_apps.sql, docs/DESIGN.md "Apps").
final class AppsTests: DatabaseTestCase {
    /// Three apps on the fake, their secrets as files in a folder named after their keys.
    static let apps = [("alpha", "key-alpha", "secret-alpha"), ("beta", "key-beta", "secret-beta"), ("gamma", "key-gamma", "secret-gamma")]

    private var secretsDirectory: URL!

    override func setUpWithError() throws {
        try super.setUpWithError()
        secretsDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("vw-secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: secretsDirectory, withIntermediateDirectories: true)
        for (name, key, secret) in Self.apps {
            try connection.query("INSERT INTO visibility_apps (name, app_key) VALUES ($1, $2)", [name, key])
            try writeSecret(secret, forKey: key)
        }
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: secretsDirectory)
        super.tearDown()
    }

    private func writeSecret(_ secret: String, forKey key: String) throws {
        try Data((secret + "\n").utf8).write(to: secretsDirectory.appendingPathComponent(key), options: .atomic)
    }

    private func startMultiAppFake(_ configure: (inout FakeDingTalkOptions) -> Void = { _ in }) async throws -> FakeDingTalkServer {
        try await startFake { options in
            for (_, key, secret) in Self.apps { options.apps[key] = secret }
            configure(&options)
        }
    }

    /// A worker environment with no single-app credentials: every app from the folder.
    private func appsEnvironment(_ server: FakeDingTalkServer) throws -> [String: String] {
        try databaseEnvironment().merging([
            "DINGTALK_BASE_URL": server.baseURL, "DINGTALK_APP_SECRETS_DIR": secretsDirectory.path,
        ]) { $1 }
    }

    private func insertJobs(_ count: Int, app: String, runAt: String = "now()") throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, app, run_at)
            SELECT ARRAY['ding' || g], $2 || g, $2, \(runAt) FROM generate_series(1, $1) AS g
            """, [count, app])
    }

    func testAnInsertNamingAnUnknownAppIsRefusedByName() throws {
        XCTAssertThrowsError(try connection.query(
            "INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, app) VALUES ('{ding1}', 'u1', 'alhpa')")) { error in
            XCTAssertTrue("\(error)".contains("app_must_name_a_row_of_visibility_apps"), "\(error)")
        }
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id) VALUES ('{ding1}', 'u1')")
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE app = 'default'"), 1, "no app named: default")
    }

    func testAppsAddListAndRemoveThatRefusesWhileJobsNameTheApp() throws {
        let environment = try databaseEnvironment()
        let added = try runWorker(["apps", "add", "delta", "--app-key", "key-delta", "--global-qps", "15", "--comment", "Delta Ltd"],
                                  environment: environment)
        XCTAssertEqual(added.status, 0, added.stderr)
        let duplicateKey = try runWorker(["apps", "add", "delta2", "--app-key", "key-delta"], environment: environment)
        XCTAssertNotEqual(duplicateKey.status, 0)
        XCTAssertTrue(duplicateKey.stderr.contains("another app has this app key"), duplicateKey.stderr)
        let badName = try runWorker(["apps", "add", "no spaces", "--app-key", "k"], environment: environment)
        XCTAssertTrue(badName.stderr.contains("app_name_must_be"), badName.stderr)

        try insertJobs(2, app: "delta")
        let listed = try runWorker(["apps", "list", "--json"], environment: environment)
        XCTAssertEqual(listed.status, 0, listed.stderr)
        let apps = try JSONDecoder().decode([GrantApp].self, from: Data(listed.stdout.utf8))
        let delta = try XCTUnwrap(apps.first { $0.name == "delta" })
        XCTAssertEqual(delta.appKey, "key-delta")
        XCTAssertEqual(delta.globalQPS, 15)
        XCTAssertEqual(delta.unfinishedJobs, 2)
        XCTAssertEqual(apps.map(\.name), ["alpha", "beta", "default", "delta", "gamma"])

        let refused = try runWorker(["apps", "remove", "delta"], environment: environment)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("2 unfinished job(s) name the app 'delta'"), refused.stderr)
        try connection.query("DELETE FROM visibility_grant_jobs WHERE app = 'delta'")
        let removed = try runWorker(["apps", "remove", "delta"], environment: environment)
        XCTAssertEqual(removed.status, 0, removed.stderr)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_apps WHERE name = 'delta'"), 0)
    }

    /// gamma's IP is not on its allow-list: its jobs wait, untouched, for the whole
    /// fleet, while alpha and beta run at their own budgets, unthrottled; an app
    /// without a secret on these workers is left alone and reported.
    func testOneMisconfiguredAppPausesAloneWhileTheOthersReachTheirCaps() async throws {
        let server = try await startMultiAppFake { options in
            options.qps = 25
            options.latency = .milliseconds(5)
            options.appFaults["key-gamma"] = "Forbidden.AccessDenied.IpNotInWhiteList"
            options.recordTimeline = true
        }
        // Each app's own cap (its fleet budget), under the API's limit of 25 per app, a tenth
        // below it at most: room for a call held up on this shared machine (FleetQuotaTests).
        try connection.query("UPDATE visibility_apps SET global_qps = 22 WHERE name = 'alpha'")
        try connection.query("UPDATE visibility_apps SET global_qps = 15 WHERE name = 'beta'")
        try connection.query("INSERT INTO visibility_apps (name, app_key) VALUES ('epsilon', 'key-epsilon')")
        for app in ["alpha", "beta", "gamma", "epsilon"] { try insertJobs(1500, app: app) }
        let environment = try appsEnvironment(server)
        let workers = try (0..<2).map { _ in
            try startWorker(["run", "--concurrency", "16", "--config-probe-interval", "1h", "--drain-timeout", "2s"], environment: environment)
        }
        func applied(_ key: String) -> Int { server.state.stats.apps[key]?.applied ?? 0 }
        func calls(_ key: String) -> Int { server.state.stats.apps[key]?.calls ?? 0 }
        try await waitUntil(timeout: .seconds(30), "both healthy apps to warm up") { applied("key-alpha") >= 22 && applied("key-beta") >= 15 }
        try await waitUntil(timeout: .seconds(10), "gamma's pause to reach the table") {
            try count("SELECT count(*) FROM visibility_apps WHERE name = 'gamma' AND paused_until > now()") == 1
        }
        // Eight seconds of each budget, counted, and timed by when the fake applied each
        // grant: a stalled worker sends later, never sooner, so load cannot push a rate up.
        let before = (alpha: applied("key-alpha"), beta: applied("key-beta"), gamma: calls("key-gamma"))
        let measured = (alpha: 8 * 22, beta: 8 * 15)
        try await waitUntil(timeout: .seconds(60), "eight seconds of each budget") {
            applied("key-alpha") >= before.alpha + measured.alpha && applied("key-beta") >= before.beta + measured.beta
        }
        let gammaAfter = calls("key-gamma")
        func rate(_ app: String, from start: Int, count: Int) -> Double {
            let times = server.state.appliedTimeline.filter { $0.optUserId.hasPrefix(app) }.map(\.at)[start..<(start + count)]
            return Double(count - 1) / (times.last! - times.first!)
        }
        let alphaRate = rate("alpha", from: before.alpha, count: measured.alpha)
        let betaRate = rate("beta", from: before.beta, count: measured.beta)

        let status = try await runWorker(["status", "--json"], environment: try databaseEnvironment())
        for worker in workers { worker.process.terminate() }
        for worker in workers {
            let result = try await worker.wait(timeout: .seconds(20))
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        let stats = server.state.stats
        for key in ["key-alpha", "key-beta"] {
            XCTAssertEqual(stats.apps[key]?.codes["Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", default: 0], 0, "\(key) was throttled")
        }
        XCTAssertLessThanOrEqual(alphaRate, 22.5, "alpha over its budget of 22 calls/s")
        XCTAssertLessThanOrEqual(betaRate, 15.5, "beta over its budget of 15 calls/s")

        XCTAssertEqual(gammaAfter, before.gamma, "no worker called gamma's API while it was paused")
        XCTAssertLessThanOrEqual(gammaAfter, 2 * 16, "at most the calls in flight when the first answer came")
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE app = 'gamma' AND state = 'pending'"), 1500)
        XCTAssertEqual(try count("SELECT coalesce(sum(attempts), 0)::bigint FROM visibility_grant_jobs WHERE app = 'gamma'"), 0,
                       "a paused app's jobs use no attempt")
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE app = 'epsilon' AND state = 'pending' AND attempts = 0"), 1500,
                       "no worker has epsilon's secret")

        XCTAssertEqual(status.status, 0, status.stderr)
        let queue = try JSONDecoder.iso8601.decode(QueueStats.self, from: Data(status.stdout.utf8))
        let gamma = try XCTUnwrap(queue.apps.first { $0.name == "gamma" })
        XCTAssertTrue(gamma.pauseReason?.contains("IpNotInWhiteList") == true, "\(gamma)")
        XCTAssertEqual(queue.workers.count, 2)
        for worker in queue.workers {
            XCTAssertEqual(worker.appsWithoutSecret, ["default", "epsilon"], "status says which apps a worker cannot serve")
        }
    }

    /// A rotated secret: the worker refused with the old one, the file is rewritten,
    /// SIGHUP, and the app's jobs go through without a restart.
    func testASecretRotatedBySIGHUPIsUsedWithoutARestart() async throws {
        let server = try await startMultiAppFake()
        try writeSecret("the-old-secret", forKey: "key-alpha")
        try insertJobs(20, app: "alpha")
        let worker = try startWorker(["run", "--config-probe-interval", "1h", "--drain-timeout", "2s"],
                                     environment: try appsEnvironment(server))
        try await waitUntil(timeout: .seconds(20), "the refused token to pause alpha") {
            try count("SELECT count(*) FROM visibility_apps WHERE name = 'alpha' AND paused_until > now()") == 1
        }
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded'"), 0)
        try writeSecret("secret-alpha", forKey: "key-alpha")
        kill(worker.process.processIdentifier, SIGHUP)
        try await waitUntil(timeout: .seconds(20), "alpha's jobs to succeed with the new secret") {
            try count("SELECT count(*) FROM visibility_grant_jobs WHERE app = 'alpha' AND state = 'succeeded'") == 20
        }
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_apps WHERE name = 'alpha' AND paused_until IS NOT NULL"), 0,
                       "the probe ended the pause for the fleet")
        let result = try await worker.stop()
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("re-read app secrets"), result.stderr)
    }

    /// alpha has a 50,000-job backlog; each of beta's jobs, inserted one after another,
    /// still goes out after only a few of alpha's, because claims take turns between
    /// apps. Counted in alpha's jobs finished while each beta job waited, not in
    /// seconds: a slow machine finishes fewer of alpha's meanwhile, never more. (The
    /// latency itself is scenario I of scripts/bench.)
    func testAnotherAppsTrickleGetsThroughBehindABacklog() async throws {
        let server = try await startMultiAppFake { options in options.latency = .milliseconds(5) }
        try connection.query("UPDATE visibility_apps SET global_qps = 200 WHERE name = 'alpha'")
        try insertJobs(50_000, app: "alpha")
        let worker = try startWorker(["run", "--concurrency", "32", "--drain-timeout", "2s"], environment: try appsEnvironment(server))
        try await waitUntil(timeout: .seconds(30), "alpha to be under way") { (server.state.stats.apps["key-alpha"]?.applied ?? 0) >= 200 }
        let producer = try database.connect()
        var alphaWhileWaiting: [Int] = []
        for index in 0..<20 {
            let alphaBefore = server.state.stats.apps["key-alpha"]?.applied ?? 0
            try producer.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, app) VALUES ('{ding1}', $1, 'beta')",
                               ["trickle\(index)"])
            try await waitUntil(timeout: .seconds(30), "beta's job \(index) to succeed") {
                (server.state.stats.apps["key-beta"]?.applied ?? 0) == index + 1
            }
            alphaWhileWaiting.append((server.state.stats.apps["key-alpha"]?.applied ?? 0) - alphaBefore)
        }
        let result = try await worker.stop()
        XCTAssertEqual(result.status, 0, result.stderr)
        // One claim of alpha's (64) and the calls in flight (32) may go first; without
        // turns, beta would wait for alpha's whole backlog.
        XCTAssertLessThanOrEqual(alphaWhileWaiting.max() ?? 0, 500, "alpha's jobs finished while each beta job waited: \(alphaWhileWaiting)")
        XCTAssertGreaterThan(try count("SELECT count(*) FROM visibility_grant_jobs WHERE app = 'alpha' AND state = 'pending'"), 0,
                             "alpha still had a backlog the whole time")
    }
}

extension JSONDecoder {
    static var iso8601: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
