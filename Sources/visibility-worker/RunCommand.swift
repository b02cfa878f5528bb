import ArgumentParser
import DingTalk
import Foundation
import GrantWorker
import Logging
import Postgres

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Claim and apply queued grants until SIGTERM/SIGINT, then drain.",
        discussion: """
            Run as many of these as you need, on any hosts that reach the database.
            On SIGTERM or SIGINT the worker stops claiming, lets in-flight calls finish
            within --drain-timeout, hands back what did not finish, and exits 0. A
            second signal stops waiting.

            Examples:
              DINGTALK_APP_KEY=ding... DINGTALK_APP_SECRET_FILE=/run/secrets/dingtalk \\
                  visibility-worker run --concurrency 16 --qps 20
              visibility-worker run --until-empty     # batch use: exit when the queue is done
            """
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var dingTalk: DingTalkOptions

    @Option(help: "API calls in flight at once in this process. (env: VISIBILITY_WORKER_CONCURRENCY; default 16)")
    var concurrency: Int?

    @Option(help: "Calls per second for this process. (env: VISIBILITY_WORKER_QPS; default: no cap)")
    var qps: Double?

    @Option(help: "Calls per second for all workers of this app key together, shared through PostgreSQL. (env: VISIBILITY_WORKER_GLOBAL_QPS; default: no cap)")
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

    func run() async throws {
        let logger = try common.makeLogger()
        let options = try workerOptions()
        let (client, transport) = try dingTalk.makeClient(connections: options.concurrency, logger: logger)
        let conninfo = common.databaseURL ?? Settings.environment["DATABASE_URL"]
        let worker = GrantWorker(options: options, database: PostgresConfiguration(conninfo: conninfo), client: client, logger: logger)

        let signals = handleTerminationSignals { signalNumber in
            logger.notice("signal received; stopping", metadata: ["signal": "\(signalNumber)"])
            worker.requestStop()
        }
        defer { signals.forEach { $0.cancel() } }

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
        try outcome.get()
    }

    private func workerOptions() throws -> WorkerOptions {
        var options = WorkerOptions(workerID: workerID ?? Settings.environment["VISIBILITY_WORKER_ID"] ?? WorkerOptions.defaultWorkerID())
        if let value = try Settings.value(concurrency.map(String.init), flagName: "--concurrency", env: "VISIBILITY_WORKER_CONCURRENCY", parse: { Int($0) }) {
            options.concurrency = value
        }
        options.qps = try Settings.value(qps.map { String($0) }, flagName: "--qps", env: "VISIBILITY_WORKER_QPS", parse: { Double($0) })
        options.globalQPS = try Settings.value(globalQPS.map { String($0) }, flagName: "--global-qps", env: "VISIBILITY_WORKER_GLOBAL_QPS",
                                               parse: { Double($0) })
        // DingTalk limits calls per app, so the fleet's budget is keyed by the app key.
        options.rateBucketKey = dingTalk.appKey ?? Settings.environment["DINGTALK_APP_KEY"].flatMap { $0.isEmpty ? nil : $0 } ?? "access-token"
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
        do {
            try options.validate()
        } catch {
            throw ValidationError(error.description)
        }
        return options
    }
}
