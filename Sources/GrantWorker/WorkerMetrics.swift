import CoreMetrics
import GrantQueue

/// What the worker reports through swift-metrics. Without a backend
/// (no `--metrics-port`) every call here is a no-op.
struct WorkerMetrics: Sendable {
    let claimed = Counter(label: "visibility_jobs_claimed_total")
    let succeeded = Counter(label: "visibility_jobs_succeeded_total")
    let released = Counter(label: "visibility_jobs_released_total")
    let callDuration = Timer(label: "visibility_api_call_duration_seconds")
    let callsInFlight = Gauge(label: "visibility_api_calls_in_flight")
    /// Calls per second this process allows itself now (its own adaptive rate, or the
    /// fleet's budget under `--global-qps`, whichever is lower); 0 while uncapped.
    let allowedRate = Gauge(label: "visibility_allowed_rate")
    /// Due jobs of every app (the sum of `visibility_due_jobs`), read every `LeaseKeeper.queueDepthInterval`.
    let queueDepth = Gauge(label: "visibility_queue_depth")
    /// Seconds the oldest transaction holding vacuum back on the jobs table has been
    /// open (0 when none), and the table's dead rows: read with the queue depth.
    let oldestTransactionAge = Gauge(label: "visibility_oldest_transaction_age_seconds")
    let jobsDeadRows = Gauge(label: "visibility_jobs_dead_rows")

    /// Throttle answers, by app.
    func throttled(app: String) {
        Counter(label: "visibility_api_throttled_total", dimensions: [("app", app)]).increment()
    }

    /// The allowed rate of one app (see `allowedRate`).
    func allowedRate(app: String, _ rate: Double) {
        Gauge(label: "visibility_app_allowed_rate", dimensions: [("app", app)]).record(rate)
    }

    /// Outcomes by app (`outcome`: succeeded, failed, retried, released).
    func outcome(app: String, _ outcome: String, times: Int = 1) {
        Counter(label: "visibility_app_jobs_total", dimensions: [("app", app), ("outcome", outcome)]).increment(by: times)
    }

    /// 1 while the app's calls are paused (for the fleet or here), and 1 while this
    /// worker has no secret for it (its jobs are left to other workers).
    func app(_ app: String, paused: Bool, withoutSecret: Bool) {
        // Made here, so each app's throttle series is scraped (at 0) before its first throttle.
        _ = Counter(label: "visibility_api_throttled_total", dimensions: [("app", app)])
        Gauge(label: "visibility_app_paused", dimensions: [("app", app)]).record(paused ? 1 : 0)
        Gauge(label: "visibility_app_without_secret", dimensions: [("app", app)]).record(withoutSecret ? 1 : 0)
    }

    /// Pending jobs of the app whose last answer was a throttle (the whole queue's,
    /// counted every `AppRoster.throttledCountInterval`).
    func throttledJobs(app: String, _ count: Int) {
        Gauge(label: "visibility_app_throttled_jobs", dimensions: [("app", app)]).record(count)
    }

    /// One app's backlog signals (`AppSignals`), for autoscalers. Seconds to drain is
    /// -1 while no rate is known or none is allowed (a paused app): more workers would
    /// not drain it sooner.
    func signals(_ app: AppSignals) {
        let dimensions = [("app", app.app)]
        Gauge(label: "visibility_oldest_due_job_age_seconds", dimensions: dimensions).record(app.oldestDueJobAgeSeconds ?? 0)
        Gauge(label: "visibility_due_jobs", dimensions: dimensions).record(app.dueJobs)
        Gauge(label: "visibility_allowed_calls_per_second", dimensions: dimensions).record(app.allowedCallsPerSecond ?? 0)
        Gauge(label: "visibility_seconds_to_drain", dimensions: dimensions).record(app.secondsToDrain ?? -1)
        Gauge(label: "visibility_stalled", dimensions: dimensions).record(app.stalled ? 1 : 0)
    }

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
