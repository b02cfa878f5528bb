import DingTalk
import Foundation
@testable import GrantQueue
@testable import GrantWorker
@testable import QueueHotPath
import XCTest

/// docs/DESIGN.md, Answer table, row by row: what happens to the job and to the process.
final class OutcomePolicyTests: XCTestCase {
    private let job = ClaimedGrantJob(id: 7, toCorpIds: ["ding1"], optUserId: "u", fields: [],
                                      attempt: 3, maxAttempts: 10, lockedUntil: Date(), priority: 0)
    private let now = Date(timeIntervalSince1970: 1_800_000_000)

    private var policy: OutcomePolicy {
        var options = WorkerOptions(workerID: "w")
        options.backoff = Backoff(base: .seconds(1), maximum: .seconds(60))
        options.configProbeInterval = .seconds(120)
        options.quotaPause = .seconds(600)
        options.banPause = .seconds(300)
        return OutcomePolicy(options: options)
    }

    private func decide(_ outcomeClass: APIOutcomeClass, code: String = "c", reachedAPI: Bool = true)
        -> (outcome: GrantJobOutcome, action: OutcomePolicy.ProcessAction)
    {
        policy.decide(APICallResult(outcomeClass: outcomeClass, httpStatus: reachedAPI ? 400 : nil, code: code, message: "m",
                                    requestID: "r", reachedAPI: reachedAPI),
                      job: job, startedAt: now, now: now)
    }

    private func delay(of disposition: GrantJobOutcome.Disposition) -> TimeInterval? {
        switch disposition {
        case .retry(let at), .released(let at): at.timeIntervalSince(now)
        default: nil
        }
    }

    func testSuccessAndTerminal() {
        XCTAssertEqual(decide(.success).outcome.disposition, .succeeded)
        let terminal = decide(.terminal, code: "invalid.param")
        XCTAssertEqual(terminal.outcome.disposition, .failed)
        XCTAssertEqual(terminal.outcome.errorCode, "invalid.param")
        XCTAssertEqual(terminal.outcome.requestID, "r")
        XCTAssertEqual(terminal.action, .none)
    }

    func testTransientRetriesWithExponentialBackoffAndJitter() throws {
        let result = decide(.transient, code: "system.busy")
        guard case .retry = result.outcome.disposition else { return XCTFail("\(result.outcome.disposition)") }
        let seconds = try XCTUnwrap(delay(of: result.outcome.disposition))
        XCTAssertGreaterThanOrEqual(seconds, 2)  // attempt 3: 1 s · 2² = 4 s, jittered to [2, 4]
        XCTAssertLessThanOrEqual(seconds, 4)
        XCTAssertEqual(result.action, .none)
    }

    func testARetryOnTheLastAttemptIsAFailure() {
        let result = policy.decide(APICallResult(outcomeClass: .transient, httpStatus: 500, code: "system.busy"),
                                   job: lastAttempt, startedAt: now, now: now)
        XCTAssertEqual(result.outcome.disposition, .failed)
        XCTAssertEqual(result.outcome.errorCode, "system.busy")
        XCTAssertEqual(result.action, .none)
    }

    private let lastAttempt = ClaimedGrantJob(id: 7, toCorpIds: ["ding1"], optUserId: "u", fields: [],
                                              attempt: 10, maxAttempts: 10, lockedUntil: Date(), priority: 0)

    func testThrottlingReleasesWithoutAnAttemptAfterAtLeastASecondAndSlowsTheProcess() throws {
        let result = decide(.throttled, code: "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi")
        guard case .released = result.outcome.disposition else { return XCTFail("\(result.outcome.disposition)") }
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(delay(of: result.outcome.disposition)), 1)
        XCTAssertEqual(result.action, .slowDown)
        XCTAssertTrue(result.outcome.reachedAPI, "the throttle's audit row is written")
        XCTAssertEqual(result.outcome.errorCode, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", "marked by the throttle's code")
    }

    func testAThrottleOnTheLastAttemptDoesNotFailTheJob() {
        // The throttle is the fleet's pace, not the job's fault: max_attempts throttles fail nothing.
        let result = policy.decide(APICallResult(outcomeClass: .throttled, httpStatus: 403, code: "Forbidden.AccessDenied.QpsLimitForApi"),
                                   job: lastAttempt, startedAt: now, now: now)
        guard case .released = result.outcome.disposition else { return XCTFail("\(result.outcome.disposition)") }
        XCTAssertEqual(result.action, .slowDown)
    }

    // MARK: The gateway answers of issue 27, from the bytes to the disposition.

    private func decide(status: Int, body: String) -> (outcome: GrantJobOutcome, action: OutcomePolicy.ProcessAction) {
        policy.decide(ResponseClassifier.classify(status: status, requestIDHeader: nil, body: Array(body.utf8)),
                      job: job, startedAt: now, now: now)
    }

    func testANginx502PageRetriesTheJobAndPausesNothing() {
        let result = decide(status: 502, body: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body></html>")
        guard case .retry = result.outcome.disposition else { return XCTFail("\(result.outcome.disposition)") }
        XCTAssertEqual(result.action, .none, "a gateway's page never pauses the host")
        XCTAssertEqual(result.outcome.errorCode, "http.502")
    }

    func testAPlainText429ReleasesTheJobAndSlowsDownWithoutAPause() {
        let result = decide(status: 429, body: "Too Many Requests")
        guard case .released = result.outcome.disposition else { return XCTFail("\(result.outcome.disposition)") }
        XCTAssertEqual(result.action, .slowDown)
    }

    func testAJSON429ThrottlingIsNeitherTerminalNorAnAttempt() {
        let result = decide(status: 429, body: #"{"code":"Throttling","message":"Request was denied due to flow control."}"#)
        guard case .released = result.outcome.disposition else { return XCTFail("\(result.outcome.disposition)") }
        XCTAssertEqual(result.outcome.errorCode, "Throttling")
        XCTAssertEqual(result.outcome.httpStatus, 429)
        XCTAssertEqual(result.action, .slowDown)
    }

    func testATokenEndpointFailureReleasesWithoutAnAttempt() {
        // What DingTalkClient returns when the token endpoint answered 500: no grant call was made.
        let result = policy.decide(APICallResult(outcomeClass: .transient, httpStatus: 500, code: "http.500", reachedAPI: false),
                                   job: lastAttempt, startedAt: now, now: now)
        guard case .released = result.outcome.disposition else { return XCTFail("\(result.outcome.disposition)") }
        XCTAssertFalse(result.outcome.reachedAPI, "no audit row: no grant call was made")
    }

    func testConfigQuotaAndBanReleaseWithoutAnAttemptAndPause() throws {
        for (outcomeClass, pause) in [(APIOutcomeClass.config, 120.0), (.token, 120), (.quota, 600), (.banned, 300)] {
            let result = decide(outcomeClass)
            guard case .released = result.outcome.disposition else { return XCTFail("\(outcomeClass): \(result.outcome.disposition)") }
            // An app's pause holds its jobs back in the database (the claim checks it), so they are due
            // at once; a ban is the host's, and only its own pause holds the jobs back.
            XCTAssertEqual(try XCTUnwrap(delay(of: result.outcome.disposition)), outcomeClass == .banned ? pause : 0, accuracy: 0.01,
                           "\(outcomeClass)")
            switch (outcomeClass, result.action) {
            case (.banned, .pause(let duration, _)):
                XCTAssertEqual(duration, .seconds(pause), "a ban holds every app on this host")
            case (.config, .pauseApp(let duration, _)), (.token, .pauseApp(let duration, _)), (.quota, .pauseApp(let duration, _)):
                XCTAssertEqual(duration, .seconds(pause), "\(outcomeClass) holds the job's app only")
            default:
                XCTFail("\(outcomeClass): \(result.action)")
            }
            XCTAssertTrue(result.outcome.reachedAPI, "the answer is recorded in the audit trail")
        }
    }

    func testAnUnreachableAPIReleasesWithoutAnAttemptAndBacksOff() {
        let result = decide(.transient, code: LocalErrorCode.connectionRefused, reachedAPI: false)
        guard case .released = result.outcome.disposition else { return XCTFail("\(result.outcome.disposition)") }
        XCTAssertFalse(result.outcome.reachedAPI)
        guard case .pause = result.action else { return XCTFail("must back off") }
    }

    func testABrokenEgressProxyPausesLikeAConfigErrorAndNamesTheProxy() throws {
        let failure = TransportError(code: LocalErrorCode.proxyAuthenticationRequired, reachedServer: false,
                                     description: "egress proxy http://127.0.0.1:3128: answered CONNECT with 407")
        let result = policy.decide(failure.result, job: job, startedAt: now, now: now)
        XCTAssertEqual(result.outcome.disposition, .released(at: now.addingTimeInterval(120)))
        XCTAssertFalse(result.outcome.reachedAPI, "no attempt may be used")
        guard case .pause(let duration, let reason) = result.action else { return XCTFail("\(result.action)") }
        XCTAssertEqual(duration, .seconds(120))
        XCTAssertTrue(reason.contains("proxy.auth.required") && reason.contains("http://127.0.0.1:3128") && reason.contains("407"), reason)
        // Any other failure without a response stays transient.
        XCTAssertEqual(TransportError(code: LocalErrorCode.connectionRefused, reachedServer: false, description: "").result.outcomeClass,
                       .transient)
    }

    func testAPITextIsMadeStorable() {
        XCTAssertEqual(OutcomePolicy.storable("a\u{0}b", limit: 10), "a\u{FFFD}b", "PostgreSQL text cannot hold NUL")
        XCTAssertEqual(OutcomePolicy.storable(String(repeating: "x", count: 50), limit: 10), String(repeating: "x", count: 10) + "…")
        XCTAssertNil(OutcomePolicy.storable(nil, limit: 10))
        let html = decide(.banned, code: "non.json.body")
        XCTAssertEqual(html.outcome.errorMessage, "m")
    }

    func testBackoffIsCappedAndJittered() {
        let backoff = Backoff(base: .milliseconds(100), maximum: .seconds(2))
        let delays = (0..<50).map { _ in backoff.delay(afterAttempt: 30) }
        XCTAssertTrue(delays.allSatisfy { $0 <= .seconds(2) && $0 >= .seconds(1) })
        XCTAssertGreaterThan(Set(delays).count, 1, "no jitter")
        XCTAssertGreaterThanOrEqual(backoff.delay(afterAttempt: 1, minimum: .seconds(1)), .seconds(1))
    }
}
