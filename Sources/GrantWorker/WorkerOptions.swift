import Foundation
import GrantQueue

/// How a worker process runs. Defaults suit one process against the real API.
public struct WorkerOptions: Sendable {
    /// Identifies this process in `locked_by` and `visibility_workers`.
    public var workerID: String
    /// API calls in flight at once in this process.
    public var concurrency = 16
    /// Calls per second for this process; `nil` = no cap (throttle answers still slow it down).
    public var qps: Double?
    /// Calls per second for the whole fleet sharing `rateBucketKey`, coordinated
    /// through PostgreSQL; `nil` = no fleet-wide cap.
    public var globalQPS: Double?
    /// Whose budget `globalQPS` is: the DingTalk app key (its QPS limit is per app).
    public var rateBucketKey = "default"
    /// Most jobs claimed in one statement.
    public var batchSize = 64
    /// How long a claim is held before another worker may take the job; extended while the call runs.
    public var lease: Duration = .seconds(30)
    /// On SIGTERM/SIGINT, how long in-flight calls may take before their jobs are handed back.
    public var drainTimeout: Duration = .seconds(20)
    /// Exit once nothing is claimable, nothing is in flight here and no retry is due within `backoff.maximum`.
    public var untilEmpty = false
    /// Fallback poll when no notification arrives.
    public var pollInterval: Duration = .seconds(1)
    public var backoff = Backoff()
    /// Pause after a config error (bad secret, no permission, IP not whitelisted) before trying one call again.
    public var configProbeInterval: Duration = .seconds(120)
    /// Pause after the organization's monthly quota ran out.
    public var quotaPause: Duration = .seconds(600)
    /// Pause after a ban answer (DingTalk bans an IP for 5 minutes).
    public var banPause: Duration = .seconds(300)
    /// Count the due backlog every `Completer.queueDepthInterval` (15 s), for the queue-depth
    /// metric (a count over the pending jobs each time; `run` turns it on with `--metrics-port`).
    public var reportQueueDepth = false
    /// With a value: delete finished jobs older than this, periodically, one worker of the fleet at a time.
    public var retention: Duration?
    /// How often a worker with `retention` tries to prune.
    public var pruneInterval: Duration = .seconds(600)
    /// What this build calls itself: logged at start, sent with every heartbeat for `status`.
    public var version: String?

    public init(workerID: String = WorkerOptions.defaultWorkerID()) {
        self.workerID = workerID
    }

    /// `host-pid-random`: unique across hosts and restarts.
    public static func defaultWorkerID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        return "\(host)-\(ProcessInfo.processInfo.processIdentifier)-\(suffix)"
    }

    /// Refuses settings that cannot work, naming the flag.
    public func validate() throws(WorkerOptionsError) {
        if concurrency < 1 || concurrency > 10_000 { throw WorkerOptionsError("--concurrency must be 1 to 10000") }
        if let qps, !(0.01...100_000).contains(qps) { throw WorkerOptionsError("--qps must be 0.01 to 100000") }
        if let globalQPS, !(0.01...100_000).contains(globalQPS) { throw WorkerOptionsError("--global-qps must be 0.01 to 100000") }
        let longest = Duration.seconds(7 * 86_400)
        for (name, value) in [("--lease", lease), ("--drain-timeout", drainTimeout), ("--poll-interval", pollInterval),
                              ("--backoff-max", backoff.maximum), ("--config-probe-interval", configProbeInterval),
                              ("--quota-pause", quotaPause), ("--ban-pause", banPause)] where value > longest {
            throw WorkerOptionsError("\(name) must be at most 7d")
        }
        if batchSize < 1 || batchSize > 10_000 { throw WorkerOptionsError("--batch-size must be 1 to 10000") }
        if lease < .seconds(2) { throw WorkerOptionsError("--lease must be at least 2s") }
        // Longer leases are what the rescuer takes for rows no worker wrote (poison rows).
        if lease > GrantQueue.longestLease { throw WorkerOptionsError("--lease must be at most 1h") }
        if drainTimeout < .zero { throw WorkerOptionsError("--drain-timeout must not be negative") }
        if pollInterval <= .zero { throw WorkerOptionsError("--poll-interval must be above 0") }
        if backoff.base <= .zero || backoff.maximum < backoff.base {
            throw WorkerOptionsError("--backoff-base must be above 0 and at most --backoff-max")
        }
    }
}

public struct WorkerOptionsError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Exponential backoff with jitter for retriable outcomes.
public struct Backoff: Sendable {
    /// The delay after the first failed attempt.
    public var base: Duration = .seconds(1)
    /// No delay is longer than this.
    public var maximum: Duration = .seconds(300)

    public init(base: Duration = .seconds(1), maximum: Duration = .seconds(300)) {
        self.base = base
        self.maximum = maximum
    }

    /// `base · 2^(attempt-1)`, capped, then scaled by a random factor in [0.5, 1]
    /// so that jobs that failed together do not come back together.
    public func delay(afterAttempt attempt: Int32, minimum: Duration = .zero) -> Duration {
        let exponent = Double(max(0, min(Int(attempt) - 1, 30)))
        let raw = min(base.seconds * pow(2, exponent), maximum.seconds)
        let jittered = raw * Double.random(in: 0.5...1.0)
        return .milliseconds(Int64(max(jittered, minimum.seconds) * 1000))
    }
}

extension Duration {
    var dispatchTimeInterval: DispatchTimeInterval {
        .nanoseconds(Int(min(seconds * 1e9, Double(Int.max / 2))))
    }
}
