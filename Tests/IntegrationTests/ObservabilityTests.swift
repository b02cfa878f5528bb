import DingTalk
import FakeDingTalk
import Foundation
import GrantQueue
import Postgres
import QueueReadModels
import XCTest

/// What operators see of a running worker: `/metrics`, `/healthz` and JSON logs.
final class ObservabilityTests: DatabaseTestCase {
    /// The `url` of the worker's "serving metrics" JSON log line, once it is there.
    /// Each line of a JSON log as an object, or nil where a line is not one.
    private func jsonLogLines(_ log: String) -> [(line: Substring, object: [String: Any]?)] {
        log.split(separator: "\n").map { ($0, try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    private func metricsURL(of worker: ChildProcess) throws -> String {
        var url: String?
        try waitUntil(timeout: .seconds(20), "the worker to serve metrics") {
            url = jsonLogLines(worker.stderrSoFar).compactMap(\.object)
                .first { $0["message"] as? String == "serving metrics" }?["url"] as? String
            return url != nil
        }
        return try XCTUnwrap(url)
    }

    private func get(_ url: String) async throws -> TransportResponse {
        let transport = try AsyncHTTPClientTransport(options: .init())
        do {
            let response = try await transport.send(TransportRequest(method: .GET, url: url, headers: [], body: []))
            try await transport.shutdown()
            return response
        } catch {
            try? await transport.shutdown()
            throw error
        }
    }

    /// Samples (`name{labels}` → value) of a Prometheus text exposition; fails the test on any line
    /// that is not a comment, blank, or `name{labels} value`.
    private func parsePrometheusText(_ text: String) throws -> [String: Double] {
        let sample = try Regex(#"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})?) (\S+)$"#)
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") { continue }
            guard let match = line.wholeMatch(of: sample), let name = match.output[1].substring,
                  let valueText = match.output[2].substring else {
                XCTFail("not Prometheus text: \(line)")
                continue
            }
            guard let value = Double(valueText) ?? (valueText == "+Inf" ? .infinity : nil) else {
                XCTFail("bad sample value: \(line)")
                continue
            }
            samples[String(name)] = value
        }
        return samples
    }

    /// A throttle uses no attempt, so a job can be throttled without end: `status`,
    /// `/metrics` and the console count the jobs waiting on throttles, per app.
    func testJobsWaitingOnThrottlesAreCountedPerAppInStatusMetricsAndTheConsole() async throws {
        let server = try await startFake()
        XCTAssertTrue(server.state.script(json: #"[{"code":"Forbidden.AccessDenied.QpsLimitForAppkeyAndApi","times":100000}]"#))
        try insertJobs(5)
        // A backoff longer than the checks below take: every job stays pending, throttled, while they read.
        let worker = try startWorker(["run", "--metrics-port", "0", "--log-format", "json", "--poll-interval", "100ms",
                                      "--backoff-base", "60s", "--backoff-max", "120s"], environment: try workerEnvironment(server))
        let url = try metricsURL(of: worker)
        try await waitUntil(timeout: .seconds(30), "every job to be throttled once") {
            try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'pending' AND last_error_code LIKE 'Forbidden.AccessDenied.Qps%'") == 5
        }
        let json = try await runWorker(["status", "--json"], environment: try databaseEnvironment())
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], json.stdout)
        XCTAssertEqual((object["throttledJobsByApp"] as? [String: Int])?["default"], 5, json.stdout)
        let text = try await runWorker(["status"], environment: try databaseEnvironment())
        XCTAssertNotNil(text.stdout.firstMatch(of: /WAITING ON THROTTLES.*\n\s*default\s+5/), text.stdout)

        let overview = try GrantQueue(connection: connection).consoleOverview(throttleCodes: DingTalkErrorCode.throttleCodes)
        XCTAssertEqual(overview.throttledJobsByApp?["default"], 5)
        let console = try startWorker(["console", "--port", "0"], environment: try databaseEnvironment())
        var consoleURL = ""
        try await waitUntil(timeout: .seconds(20), "the console to listen") {
            consoleURL = console.stdoutSoFar.split(separator: "\n").first.map { String($0.dropFirst("listening on ".count)) } ?? ""
            return consoleURL.hasPrefix("http")
        }
        let page = String(decoding: try await get(consoleURL + "/").body, as: UTF8.self)
        XCTAssertNotNil(page.firstMatch(of: /Waiting on throttles[\s\S]*data-app="default">5</), page)
        _ = try await console.stop()

        // The gauge is the whole queue's count, refreshed every 15 s.
        try await waitUntil(timeout: .seconds(40), "the gauge to count the throttled jobs") {
            let samples = try parsePrometheusText(String(decoding: try await get(url).body, as: UTF8.self))
            return samples[#"visibility_app_throttled_jobs{app="default"}"#] == 5
        }
        let stopped = try await worker.stop()
        XCTAssertEqual(stopped.status, 0, stopped.stderr)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'failed' OR attempts <> 0"), 0,
                       "throttles fail nothing and use no attempt")
    }

    /// Each app's backlog signals, per app, on every worker's `/metrics`; and the
    /// worker's last outcome per app in its heartbeat, which the stall flag reads.
    func testEveryWorkerServesEachAppsSignals() async throws {
        let server = try await startFake()
        try connection.query("""
            INSERT INTO visibility_apps (name, app_key, paused_until, pause_reason, paused_since)
            VALUES ('held', 'key-held', now() + interval '1 hour', 'quota used up', now())
            """)
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, app) SELECT ARRAY['d'], 'h' || g, 'held' FROM generate_series(1, 50) AS g")
        try insertJobs(20)
        let worker = try startWorker(["run", "--metrics-port", "0", "--log-format", "json", "--poll-interval", "100ms"],
                                     environment: try workerEnvironment(server))
        let url = try metricsURL(of: worker)
        try await waitUntil(timeout: .seconds(30), "the default app's jobs to be done") {
            try count("SELECT count(*) FROM visibility_grant_jobs WHERE app = 'default' AND state = 'succeeded'") == 20
        }
        var samples: [String: Double] = [:]
        try await waitUntil(timeout: .seconds(20), "the signals to be read") {
            samples = try parsePrometheusText(String(decoding: try await get(url).body, as: UTF8.self))
            return samples[#"visibility_due_jobs{app="held"}"#] != nil
        }
        XCTAssertEqual(samples[#"visibility_due_jobs{app="held"}"#], 50)
        XCTAssertEqual(samples[#"visibility_allowed_calls_per_second{app="held"}"#], 0, "paused")
        XCTAssertEqual(samples[#"visibility_seconds_to_drain{app="held"}"#], -1, "no rate to drain at")
        XCTAssertEqual(samples[#"visibility_stalled{app="held"}"#], 0, "a pause is not a stall")
        XCTAssertNotNil(samples[#"visibility_oldest_due_job_age_seconds{app="held"}"#])
        XCTAssertEqual(samples[#"visibility_stalled{app="default"}"#], 0)
        XCTAssertNotNil(samples["visibility_queue_depth"])
        try await waitUntil(timeout: .seconds(30), "the heartbeat to carry the last outcome of the default app") {
            try count("SELECT count(*) FROM visibility_workers WHERE (last_outcome_by_app ->> 'default')::float8 > extract(epoch FROM now()) - 60") == 1
        }
        let stopped = try await worker.stop()
        XCTAssertEqual(stopped.status, 0, stopped.stderr)
    }

    func testMetricsCountWhatEachWorkerWrote() async throws {
        let server = try await startFake { $0.faults.systemBusy = 0.05 }
        try insertJobs(600)
        try connection.query("UPDATE visibility_grant_jobs SET to_corp_ids = ARRAY['not-a-corp'] WHERE id % 50 = 0")
        let workers = try ["metrics-a", "metrics-b"].map { id in
            try startWorker(["run", "--worker-id", id, "--metrics-port", "0", "--log-format", "json", "--concurrency", "4",
                             "--backoff-base", "100ms", "--backoff-max", "200ms"],
                            environment: try workerEnvironment(server))
        }
        let urls = try workers.map(metricsURL(of:))
        try await waitUntil(timeout: .seconds(60), "every job to finish") {
            try count("SELECT count(*) FROM visibility_grant_jobs WHERE state IN ('succeeded', 'failed')") == 600
        }
        for (id, url) in zip(["metrics-a", "metrics-b"], urls) {
            let written = "SELECT count(*) FROM visibility_grant_attempts WHERE worker_id = $1 AND outcome = $2"
            let succeeded = try count(written, [id, "succeeded"])
            let failed = try count(written, [id, "failed"])
            let retried = try count(written, [id, "retry"])
            var samples: [String: Double] = [:]
            // Counters move before the completer's write lands; wait (bounded) for them to agree.
            try await waitUntil(timeout: .seconds(10), "\(id)'s succeeded counter to catch up") {
                let response = try await get(url)
                XCTAssertEqual(response.status, 200)
                XCTAssertEqual(response.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
                samples = try parsePrometheusText(String(decoding: response.body, as: UTF8.self))
                return samples["visibility_jobs_succeeded_total"] == Double(succeeded)
            }
            XCTAssertEqual(samples["visibility_jobs_succeeded_total"], Double(succeeded), "\(id): succeeded counter vs rows it wrote")
            XCTAssertGreaterThan(succeeded, 0, "\(id) did some of the work")
            XCTAssertEqual(samples["visibility_jobs_failed_total{code=\"invalid.param\"}"] ?? 0, Double(failed), id)
            XCTAssertEqual(samples["visibility_jobs_retried_total{code=\"system.busy\"}"] ?? 0, Double(retried), id)
            XCTAssertEqual(samples["visibility_api_call_duration_seconds_count"], Double(succeeded + failed + retried), id)
            XCTAssertEqual(samples["visibility_token_refreshes_total"], 1, id)
            XCTAssertNotNil(samples["visibility_api_calls_in_flight"], id)
            XCTAssertNotNil(samples["visibility_allowed_rate"], id)
            XCTAssertNotNil(samples["visibility_queue_depth"], id)
            XCTAssertNotNil(samples["visibility_oldest_transaction_age_seconds"], id)
            XCTAssertNotNil(samples["visibility_jobs_dead_rows"], id)
            XCTAssertNotNil(samples["visibility_database_reconnects_total"], id)

            let health = try await get(url.replacingOccurrences(of: "/metrics", with: "/healthz"))
            XCTAssertEqual(health.status, 200)
            XCTAssertEqual(String(decoding: health.body, as: UTF8.self), "ok\n")
        }
        for worker in workers {
            let stopped = try await worker.stop()
            XCTAssertEqual(stopped.status, 0, stopped.stderr)
        }
    }

    /// Every series docs/grafana-dashboard.json queries exists in a real scrape of a worker that
    /// has succeeded, failed and retried jobs (series from Prometheus itself are named apart), and
    /// every alert rule of docs/OPERATIONS.md has its panel.
    func testTheGrafanaDashboardQueriesOnlySeriesAWorkerServes() async throws {
        let docs = TestEnvironment.packageRoot.appendingPathComponent("docs")
        let dashboard = try XCTUnwrap(try JSONSerialization.jsonObject(
            with: Data(contentsOf: docs.appendingPathComponent("grafana-dashboard.json"))) as? [String: Any])
        let panels = try XCTUnwrap(dashboard["panels"] as? [[String: Any]])
        let annotations = ((dashboard["annotations"] as? [String: Any])?["list"] as? [[String: Any]]) ?? []
        let expressions = panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
            + annotations.compactMap { $0["expr"] as? String }
        XCTAssertGreaterThan(expressions.count, 10)
        let names = Set(try expressions.flatMap(metricNames(inPromQL:)))
        // Series that Prometheus (or a blackbox exporter) makes, not the worker.
        let fromPrometheus: Set<String> = ["up", "probe_success", "ALERTS"]

        let server = try await startFake { $0.faults.systemBusy = 0.2 }
        try insertJobs(60)
        try connection.query("UPDATE visibility_grant_jobs SET to_corp_ids = ARRAY['not-a-corp'] WHERE id % 10 = 0")
        let worker = try startWorker(["run", "--metrics-port", "0", "--log-format", "json", "--backoff-base", "50ms",
                                      "--backoff-max", "100ms"], environment: try workerEnvironment(server))
        let url = try metricsURL(of: worker)
        try await waitUntil(timeout: .seconds(60), "every job to finish") {
            try count("SELECT count(*) FROM visibility_grant_jobs WHERE state IN ('succeeded', 'failed')") == 60
        }
        var served: Set<String> = []
        try await waitUntil(timeout: .seconds(10), "the scrape to show failures and retries") {
            let samples = try parsePrometheusText(String(decoding: try await get(url).body, as: UTF8.self))
            served = Set(samples.keys.map { String($0.prefix { $0 != "{" }) })
            return served.contains("visibility_jobs_failed_total") && served.contains("visibility_jobs_retried_total")
        }
        let stopped = try await worker.stop()
        XCTAssertEqual(stopped.status, 0, stopped.stderr)
        for name in names.sorted() where !fromPrometheus.contains(name) {
            XCTAssertTrue(served.contains(name), "the dashboard queries \(name), which no worker serves")
        }
        XCTAssertTrue(names.contains("visibility_queue_depth") && names.contains("visibility_api_call_duration_seconds_bucket"),
                      "\(names)")

        let operations = try String(contentsOf: docs.appendingPathComponent("OPERATIONS.md"), encoding: .utf8)
        let alerts = operations.matches(of: try Regex(#"- alert: (\w+)"#)).compactMap { $0.output[1].substring.map(String.init) }
        XCTAssertFalse(alerts.isEmpty)
        let titles = panels.compactMap { $0["title"] as? String }
        for alert in alerts {
            XCTAssertTrue(titles.contains { $0.hasPrefix(alert + ":") }, "no dashboard panel for alert \(alert)")
        }
    }

    /// The series names a PromQL expression reads: what is left once strings, label
    /// matchers, ranges, grouping clauses, functions and keywords are taken out.
    private func metricNames(inPromQL expression: String) throws -> [String] {
        var text = expression
        for pattern in [#""[^"]*""#, #"\{[^}]*\}"#, #"\[[^\]]*\]"#,
                        #"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"#] {
            text = text.replacing(try Regex(pattern), with: " ")
        }
        let keywords: Set<String> = ["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"]
        return text.matches(of: try Regex(#"[a-zA-Z_][a-zA-Z0-9_:]*"#)).compactMap { match in
            let name = String(text[match.range])
            // A name directly before "(" is a function.
            let after = text[match.range.upperBound...].drop { $0 == " " }
            guard !keywords.contains(name), after.first != "(" else { return nil }
            return name
        }
    }

    func testJSONLogsParseAndCarryNoSecret() async throws {
        let server = try await startFake { $0.tokenTTL = .seconds(2) }
        try insertJobs(50)
        var environment = try workerEnvironment(server)
        environment["LOG_LEVEL"] = "trace"
        environment["LOG_FORMAT"] = "json"
        let worker = try startWorker(["run", "--qps", "20"], environment: environment)
        // Long enough for the token to be refreshed at least once.
        try await waitUntil(timeout: .seconds(30), "every job to succeed") {
            try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded'") == 50
        }
        let result = try await worker.stop()
        XCTAssertEqual(result.status, 0)
        let lines = jsonLogLines(result.stderr)
        XCTAssertGreaterThanOrEqual(lines.count, 3, "started, draining, stopped at least")
        var messages: [String] = []
        for (line, object) in lines {
            guard let object else {
                XCTFail("not a JSON object: \(line)")
                continue
            }
            XCTAssertNotNil(object["timestamp"] as? String, String(line))
            XCTAssertNotNil(object["level"] as? String, String(line))
            messages.append(object["message"] as? String ?? "")
        }
        XCTAssertTrue(messages.contains("worker started"), "\(messages)")
        XCTAssertTrue(messages.contains("worker stopped"), "\(messages)")
        let secrets = [server.state.options.appSecret] + server.state.issuedTokens
        XCTAssertGreaterThan(server.state.stats.tokenRequests, 1, "the token was fetched again before it expired")
        for secret in secrets {
            XCTAssertFalse(result.stderr.contains(secret), "a secret or token appears in the logs")
        }
    }

    func testDefaultLogLevelSaysStateChangesNotJobs() async throws {
        let server = try await startFake()
        try insertJobs(100)
        let result = try await runWorker(["run", "--until-empty", "--log-format", "json"], environment: try workerEnvironment(server))
        XCTAssertEqual(result.status, 0, result.stderr)
        let messages = jsonLogLines(result.stderr).compactMap { $0.object?["message"] as? String }
        XCTAssertEqual(messages, ["worker started", "draining", "worker stopped"])
    }
}
