@testable import GrantWorker
import XCTest

/// Turn-taking between apps (docs/DESIGN.md, Apps), on a manual clock.
final class TurnRotationTests: XCTestCase {
    let clock = ManualClock()
    var turns = TurnRotation()
    let apps = ["alpha", "beta", "gamma"]

    func next(_ verdict: (String) -> TurnRotation.Verdict = { _ in .take }) -> (chosen: String?, retryAfter: Duration) {
        turns.next(among: apps, at: clock.now, verdict: verdict)
    }

    func testAppsTakeTurnsInRotation() {
        XCTAssertEqual((0..<7).map { _ in next().chosen }, ["alpha", "beta", "gamma", "alpha", "beta", "gamma", "alpha"])
    }

    /// An app with a backlog is always ready; the others still get every third turn.
    func testABusyAppDoesNotStarveTheOthers() {
        var chosen: [String] = []
        for _ in 0..<30 {
            guard let name = next().chosen else { return XCTFail("nobody was ready") }
            chosen.append(name)
            if name != "alpha" { turns.idle(name, until: clock.now + .seconds(1)) }  // nothing more due
            turns.wakeAll()  // an insert for every app
        }
        XCTAssertEqual(chosen.filter { $0 == "beta" }.count, 10)
        XCTAssertEqual(chosen.filter { $0 == "gamma" }.count, 10)
    }

    func testAnAppWaitingOutItsRateIsSkippedUntilTheClockPassesIt() {
        turns.notReady("alpha", until: clock.now + .milliseconds(100))
        XCTAssertEqual(next().chosen, "beta")
        turns.notReady("beta", until: clock.now + .milliseconds(300))
        turns.notReady("gamma", until: clock.now + .milliseconds(200))
        let none = next()
        XCTAssertNil(none.chosen)
        XCTAssertEqual(none.retryAfter, .milliseconds(100), "the soonest of the three")
        clock.advance(by: .milliseconds(100))
        XCTAssertEqual(next().chosen, "alpha")
    }

    func testAnIdleAppWaitsForItsTimeOrAnInsert() {
        for name in apps { turns.idle(name, until: clock.now + .seconds(60)) }
        XCTAssertTrue(turns.hasIdleApps(at: clock.now))
        XCTAssertEqual(next().retryAfter, .milliseconds(500), "the wait is capped: the poll goes on")
        turns.wakeAll()
        XCTAssertFalse(turns.hasIdleApps(at: clock.now))
        XCTAssertEqual(next().chosen, "alpha")
    }

    /// A paused app's probe: passed over while its calls are in flight, asked again a
    /// second later when another worker holds the probe, taken when this one wins it.
    func testVerdictsPassOrPostponeACandidate() {
        var asked: [String] = []
        let first = next { name in
            asked.append(name)
            return name == "gamma" ? .take : (name == "alpha" ? .passFor(.seconds(1)) : .pass)
        }
        XCTAssertEqual(first.chosen, "gamma")
        XCTAssertEqual(asked, ["alpha", "beta", "gamma"])
        asked = []
        _ = next { name in asked.append(name); return .pass }
        XCTAssertEqual(asked, ["beta", "gamma"], "alpha is not asked again within its second")
        clock.advance(by: .seconds(1))
        XCTAssertEqual(next().chosen, "alpha")
    }
}
