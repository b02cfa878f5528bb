import CoreMetrics

/// What the worker reports through swift-metrics. Without a backend
/// (no `--metrics-port`) every call here is a no-op.
struct WorkerMetrics: Sendable {
    let claimed = Counter(label: "visibility_jobs_claimed_total")
    let succeeded = Counter(label: "visibility_jobs_succeeded_total")
    let released = Counter(label: "visibility_jobs_released_total")
    let throttled = Counter(label: "visibility_api_throttled_total")
    let callDuration = Timer(label: "visibility_api_call_duration_seconds")
    let callsInFlight = Gauge(label: "visibility_api_calls_in_flight")
    /// Calls per second this process allows itself now (its own adaptive rate, or the
    /// fleet's budget under `--global-qps`, whichever is lower); 0 while uncapped.
    let allowedRate = Gauge(label: "visibility_allowed_rate")
    /// Due pending jobs, counted every `Completer.queueDepthInterval`.
    let queueDepth = Gauge(label: "visibility_queue_depth")

    /// Per error code; the factory keeps one counter per code.
    func failed(code: String?, times: Int = 1) {
        Counter(label: "visibility_jobs_failed_total", dimensions: [("code", code ?? "none")]).increment(by: times)
    }

    func retried(code: String?, times: Int = 1) {
        Counter(label: "visibility_jobs_retried_total", dimensions: [("code", code ?? "none")]).increment(by: times)
    }
}

extension Duration {
    /// In whole nanoseconds, as metrics timers take it.
    var wholeNanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
