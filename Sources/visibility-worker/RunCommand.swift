import ArgumentParser
import DingTalk
import Foundation
import GrantWorker
import Logging
import MetricsEndpoint
import Postgres
import TraceExport

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Claim and apply queued grants until SIGTERM/SIGINT, then drain.",
        discussion: """
            Run as many of these as you need, on any hosts that reach the database.
            On SIGTERM or SIGINT the worker stops claiming, lets in-flight calls finish
            within --drain-timeout, hands back what did not finish, and exits 0. A
            second signal stops waiting for in-flight calls; the outcomes are still
            written before it exits (until --drain-timeout plus about 7s from the
            first signal, whatever the database does).

            Examples:
              DINGTALK_APP_KEY=ding... DINGTALK_APP_SECRET_FILE=/run/secrets/dingtalk \\
                  visibility-worker run --concurrency 16 --qps 20
              visibility-worker run --global-qps 20 --metrics-port 9464 --retention 30d --log-format json
              visibility-worker run --until-empty     # batch use: exit when the queue is done

            With --metrics-port, GET /metrics serves Prometheus text and GET /healthz
            answers 200 while the database is reachable (503 otherwise, also while it
            hangs: no answer within --db-timeout).

            Behind PgBouncer in transaction mode, add --pool-mode transaction.

            Traces: set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://collector:4318) and
            each attempt becomes a span, with the DingTalk call as a client span under
            it, sent over OTLP/HTTP. A job's traceparent (enqueue --traceparent, or the
            column) puts its attempts in the producer's trace. Without the variable
            nothing is sent. OTEL_SERVICE_NAME defaults to visibility-worker.

            Several DingTalk apps: register each with `visibility-worker apps add`, put
            one file per app key in DINGTALK_APP_SECRETS_DIR, and send SIGHUP after a
            secret changes. Jobs of an app this worker has no secret for are left to
            other workers.
            """
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var dingTalk: DingTalkOptions

    @Option(help: "Folder with one secret file per app key, named after the key (a mounted Kubernetes Secret); re-read on SIGHUP. (env: DINGTALK_APP_SECRETS_DIR)")
    var appSecretsDir: String?

    @Option(help: "API calls in flight at once in this process. (env: VISIBILITY_WORKER_CONCURRENCY; default 16)")
    var concurrency: Int?

    @Option(help: "Calls per second for this process, per app. (env: VISIBILITY_WORKER_QPS; default: no cap)")
    var qps: Double?

    @Option(help: "Calls per second for all workers together, per app, shared through PostgreSQL; an app's visibility_apps.global_qps wins. (env: VISIBILITY_WORKER_GLOBAL_QPS; default: no cap)")
    var globalQPS: Double?

    @Option(help: "Most jobs claimed at once. (env: VISIBILITY_WORKER_BATCH_SIZE; default 64)")
    var batchSize: Int?

    @Option(help: "Lease on a claimed job, extended while its call runs. (env: VISIBILITY_WORKER_LEASE; default 30s)")
    var lease: String?

    @Option(help: "Time in-flight calls get after SIGTERM. (env: VISIBILITY_WORKER_DRAIN_TIMEOUT; default 20s)")
    var drainTimeout: String?

    @Option(help: "Fallback poll when no NOTIFY arrives. (env: VISIBILITY_WORKER_POLL_INTERVAL; default 1s)")
    var pollInterval: String?

    @Option(help: "Retry delay after the first failure, doubling per attempt. (env: VISIBILITY_WORKER_BACKOFF_BASE; default 1s)")
    var backoffBase: String?

    @Option(help: "Longest retry delay. (env: VISIBILITY_WORKER_BACKOFF_MAX; default 5m)")
    var backoffMax: String?

    @Option(help: "Pause after a DingTalk ban answer. (env: VISIBILITY_WORKER_BAN_PAUSE; default 5m)")
    var banPause: String?

    @Option(help: "Pause after the organization's monthly API quota ran out. (env: VISIBILITY_WORKER_QUOTA_PAUSE; default 10m)")
    var quotaPause: String?

    @Option(help: "Pause before re-trying after a config error (bad secret, permission, IP whitelist). (env: VISIBILITY_WORKER_CONFIG_PROBE_INTERVAL; default 2m)")
    var configProbeInterval: String?

    @Option(help: "This process's id in the queue. (env: VISIBILITY_WORKER_ID; default host-pid-random)")
    var workerID: String?

    @Flag(help: "Exit 0 once nothing is claimable, nothing is in flight and no retry is due within --backoff-max.")
    var untilEmpty = false

    @Option(help: "Delete finished jobs older than this, periodically, one worker at a time (e.g. 30d). (env: VISIBILITY_WORKER_RETENTION; default: keep all)")
    var retention: String?

    @Option(help: "Serve Prometheus /metrics and /healthz on this port; 0 picks a free one. (env: VISIBILITY_WORKER_METRICS_PORT; default: off)")
    var metricsPort: Int?

    @Option(help: "Address for --metrics-port; 0.0.0.0 in containers. (env: VISIBILITY_WORKER_METRICS_HOST; default 127.0.0.1)")
    var metricsHost: String?

    func run() async throws {
        let logger = try common.makeLogger()
        var options = try workerOptions()
        let port = try Settings.value(metricsPort.map(String.init), flagName: "--metrics-port", env: "VISIBILITY_WORKER_METRICS_PORT",
                                      parse: { Int($0).flatMap { (0...65_535).contains($0) ? $0 : nil } })
        let host = Settings.string(metricsHost, env: "VISIBILITY_WORKER_METRICS_HOST") ?? "127.0.0.1"
        // Metrics made before the backend exists stay no-ops: bootstrap before the client and the worker.
        let registry = port.map { _ in MetricsServer.bootstrapMetrics() }
        options.reportQueueDepth = port != nil
        let database = try common.configuration()
        let secretsPath = Settings.string(appSecretsDir, env: "DINGTALK_APP_SECRETS_DIR")
        var secrets: AppSecretsDirectory?
        if let secretsPath {
            do {
                secrets = try AppSecretsDirectory(path: secretsPath)
            } catch {
                throw ValidationError(error.description)
            }
        }
        let access = try dingTalk.makeAPIAccess(connections: options.concurrency, logger: logger, credentialsRequired: secrets == nil)
        let transport = access.transport
        let credentials = AppCredentials(baseURL: access.baseURL, transport: transport, defaultTokenProvider: access.tokenProvider,
                                         secrets: secrets)
        let traces: TraceExporter?
        do {
            traces = try TraceExporter.startIfConfigured(environment: ProcessInfo.processInfo.environment, logger: logger)
        } catch {
            try? await transport.shutdown()
            throw ValidationError(error.description)
        }
        if let traces { logger.notice("exporting traces over OTLP/HTTP", metadata: ["endpoint": "\(traces.endpoint)"]) }
        let worker = GrantWorker(options: options, database: database, credentials: credentials, logger: logger)
        var metricsServer: MetricsServer?
        if let port, let registry {
            do {
                metricsServer = try await MetricsServer.start(host: host, port: port, registry: registry) { worker.databaseProblem }
            } catch {
                try? await transport.shutdown()
                await traces?.shutdown()
                throw CommandError("cannot serve metrics on \(host):\(port): \(error)")
            }
            logger.notice("serving metrics", metadata: ["url": "\(metricsServer?.baseURL ?? "")/metrics"])
        }

        let signals = handleTerminationSignals { signalNumber in
            logger.notice("signal received; stopping", metadata: ["signal": "\(signalNumber)"])
            worker.requestStop()
        }
        let hangUp = handleSignals([SIGHUP]) { _ in
            logger.notice("SIGHUP: re-reading app secrets")
            worker.reloadSecrets()
        }
        defer { (signals + hangUp).forEach { $0.cancel() } }

        // The engine blocks on semaphores and sockets, so it gets a thread of its own
        // rather than one of the few threads that run async tasks (the API calls).
        let outcome: Result<Void, any Error> = await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: Result { try worker.run() })
            }
            thread.name = "producer"
            thread.start()
        }
        try? await transport.shutdown()
        try? await metricsServer?.shutdown()
        // The last spans go out after the last outcomes are written.
        await traces?.shutdown()
        try outcome.get()
    }

    private func workerOptions() throws -> WorkerOptions {
        var options = WorkerOptions(workerID: Settings.string(workerID, env: "VISIBILITY_WORKER_ID") ?? WorkerOptions.defaultWorkerID())
        if let value = try Settings.value(concurrency.map(String.init), flagName: "--concurrency", env: "VISIBILITY_WORKER_CONCURRENCY", parse: { Int($0) }) {
            options.concurrency = value
        }
        options.qps = try Settings.value(qps.map { String($0) }, flagName: "--qps", env: "VISIBILITY_WORKER_QPS", parse: { Double($0) })
        options.globalQPS = try Settings.value(globalQPS.map { String($0) }, flagName: "--global-qps", env: "VISIBILITY_WORKER_GLOBAL_QPS",
                                               parse: { Double($0) })
        // DingTalk limits calls per app, so the fleet's budget is keyed by the app key.
        options.rateBucketKey = dingTalk.resolvedAppKey ?? "access-token"
        if let value = try Settings.value(batchSize.map(String.init), flagName: "--batch-size", env: "VISIBILITY_WORKER_BATCH_SIZE", parse: { Int($0) }) {
            options.batchSize = value
        }
        func duration(_ flag: String?, _ name: String, _ env: String) throws -> Duration? {
            try Settings.value(flag, flagName: name, env: env, parse: Settings.duration)
        }
        if let value = try duration(lease, "--lease", "VISIBILITY_WORKER_LEASE") { options.lease = value }
        if let value = try duration(drainTimeout, "--drain-timeout", "VISIBILITY_WORKER_DRAIN_TIMEOUT") { options.drainTimeout = value }
        if let value = try duration(pollInterval, "--poll-interval", "VISIBILITY_WORKER_POLL_INTERVAL") { options.pollInterval = value }
        if let value = try duration(backoffBase, "--backoff-base", "VISIBILITY_WORKER_BACKOFF_BASE") { options.backoff.base = value }
        if let value = try duration(backoffMax, "--backoff-max", "VISIBILITY_WORKER_BACKOFF_MAX") { options.backoff.maximum = value }
        if let value = try duration(banPause, "--ban-pause", "VISIBILITY_WORKER_BAN_PAUSE") { options.banPause = value }
        if let value = try duration(quotaPause, "--quota-pause", "VISIBILITY_WORKER_QUOTA_PAUSE") { options.quotaPause = value }
        if let value = try duration(configProbeInterval, "--config-probe-interval", "VISIBILITY_WORKER_CONFIG_PROBE_INTERVAL") {
            options.configProbeInterval = value
        }
        options.untilEmpty = untilEmpty
        options.version = BuildVersion.description
        if let value = try duration(retention, "--retention", "VISIBILITY_WORKER_RETENTION") {
            guard value >= .seconds(60) else { throw ValidationError("--retention must be at least 1m") }
            options.retention = value
        }
        // Advanced, environment only: how often --retention prunes (default 10m).
        if let value = try duration(nil, "VISIBILITY_WORKER_PRUNE_INTERVAL", "VISIBILITY_WORKER_PRUNE_INTERVAL") {
            guard value >= .milliseconds(100) else { throw ValidationError("VISIBILITY_WORKER_PRUNE_INTERVAL must be at least 100ms") }
            options.pruneInterval = value
        }
        do {
            try options.validate()
        } catch {
            throw ValidationError(error.description)
        }
        return options
    }
}
