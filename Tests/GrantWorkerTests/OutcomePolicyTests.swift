import DingTalk
import Foundation
@testable import GrantQueue
@testable import GrantWorker
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
        let lastAttempt = ClaimedGrantJob(id: 7, toCorpIds: ["ding1"], optUserId: "u", fields: [],
                                          attempt: 10, maxAttempts: 10, lockedUntil: Date(), priority: 0)
        for (outcomeClass, action) in [(APIOutcomeClass.transient, OutcomePolicy.ProcessAction.none), (.throttled, .slowDown)] {
            let result = policy.decide(APICallResult(outcomeClass: outcomeClass, httpStatus: 500, code: "system.busy"),
                                       job: lastAttempt, startedAt: now, now: now)
            XCTAssertEqual(result.outcome.disposition, .failed, "\(outcomeClass)")
            XCTAssertEqual(result.outcome.errorCode, "system.busy")
            XCTAssertEqual(result.action, action, "a throttle still slows the process down")
        }
    }

    func testThrottlingRetriesAfterAtLeastASecondAndSlowsTheProcess() throws {
        let result = decide(.throttled, code: "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi")
        guard case .retry = result.outcome.disposition else { return XCTFail() }
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(delay(of: result.outcome.disposition)), 1)
        XCTAssertEqual(result.action, .slowDown)
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
