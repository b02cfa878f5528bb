import DingTalk
import Foundation
import GrantQueue
import QueueHotPath

/// What the engine does with an API answer (docs/DESIGN.md, Answer table): the job's
/// disposition, and whether the job's app (or the whole host) must pause or slow down.
struct OutcomePolicy: Sendable {
    enum ProcessAction: Equatable {
        case none
        /// Slow every call down (throttle answer).
        case slowDown
        /// Stop calling for a while, for every app on this host (DingTalk bans per IP);
        /// `reason` is logged and shown.
        case pause(Duration, reason: String)
        /// Stop calling for this job's app only, in the whole fleet (its key, secret,
        /// permissions, IP allow-list or monthly quota are its own).
        case pauseApp(Duration, reason: String)
    }

    let backoff: Backoff
    let configProbeInterval: Duration
    let quotaPause: Duration
    let banPause: Duration

    init(options: WorkerOptions) {
        backoff = options.backoff
        configProbeInterval = options.configProbeInterval
        quotaPause = options.quotaPause
        banPause = options.banPause
    }

    /// Text from the API as the database can keep it: PostgreSQL text cannot hold
    /// NUL, and a proxy's error page is not worth storing whole.
    static func storable(_ text: String?, limit: Int) -> String? {
        guard var text else { return nil }
        if text.contains("\u{0}") { text = text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") }
        return text.count > limit ? String(text.prefix(limit)) + "…" : text
    }

    func decide(_ result: APICallResult, job: ClaimedGrantJob, startedAt: Date, now: Date = Date())
        -> (outcome: GrantJobOutcome, action: ProcessAction)
    {
        func outcome(_ disposition: GrantJobOutcome.Disposition, reachedAPI: Bool = result.reachedAPI) -> GrantJobOutcome {
            GrantJobOutcome(
                jobID: job.id, attempt: job.attempt, disposition: disposition, startedAt: startedAt, reachedAPI: reachedAPI,
                httpStatus: result.httpStatus, errorCode: Self.storable(result.code, limit: 200),
                errorMessage: Self.storable(result.message, limit: 1000), requestID: Self.storable(result.requestID, limit: 200))
        }
        func later(_ delay: Duration) -> Date { now.addingTimeInterval(delay.seconds) }
        /// A retry on the job's last attempt is its failure (the completion statement
        /// applies the same rule for any caller; deciding it here keeps counts right).
        func retry(after delay: Duration) -> GrantJobOutcome.Disposition {
            job.attempt >= job.maxAttempts ? .failed : .retry(at: later(delay))
        }
        let code = result.code ?? result.outcomeClass.rawValue

        switch result.outcomeClass {
        case .success:
            return (outcome(.succeeded), .none)
        case .terminal:
            return (outcome(.failed), .none)
        case .transient where !result.reachedAPI:
            // The API could not be reached at all, or no token could be had: not this job's fault,
            // so no attempt is used; the whole process backs off as if paused.
            let delay = backoff.delay(afterAttempt: 3)
            return (outcome(.released(at: later(delay)), reachedAPI: false), .pause(delay, reason: "DingTalk unreachable (\(code))"))
        case .transient:
            return (outcome(retry(after: backoff.delay(afterAttempt: job.attempt))), .none)
        case .throttled:
            // The fleet's pace is at fault, not the job: back after the delay without using an
            // attempt, so no job fails for throttles. Its audit row is the release, with the
            // throttle's status and code.
            let delay = backoff.delay(afterAttempt: job.attempt, minimum: .seconds(1))
            return (outcome(.released(at: later(delay))), .slowDown)
        case .config where LocalErrorCode.egressCodes.contains(code):
            // The proxy on the way out failed, not DingTalk: as for a bad secret, fail none and
            // stop calling; the reason names the proxy (never its credentials) and what it answered.
            return (outcome(.released(at: later(configProbeInterval)), reachedAPI: false),
                    .pause(configProbeInterval, reason: "cannot reach DingTalk through the egress proxy (\(code)): \(result.message ?? "")"))
        case .token, .config:
            // Every job would fail the same way: fail none, give this one back, stop calling.
            // Due again at once: the app's pause in visibility_apps holds its jobs back, and a
            // fix (a rotated secret) ends it early.
            return (outcome(.released(at: now)),
                    .pauseApp(configProbeInterval, reason: "DingTalk app misconfigured (\(code)): fix the app key, secret, permission or IP whitelist"))
        case .quota:
            return (outcome(.released(at: now)),
                    .pauseApp(quotaPause, reason: "organization's monthly API quota used up (\(code))"))
        case .banned:
            return (outcome(.released(at: later(banPause))),
                    .pause(banPause, reason: "DingTalk refused this IP (\(code)); waiting out the ban"))
        }
    }
}
