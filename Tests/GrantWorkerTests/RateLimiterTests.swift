@testable import GrantWorker
import XCTest

final class RateLimiterTests: XCTestCase {
    func testSpacesCallsToTheRate() {
        let limiter = RateLimiter(rate: 10)
        let waits = (0..<5).map { _ in limiter.reserve() }
        XCTAssertEqual(waits[0], .zero)
        XCTAssertGreaterThanOrEqual(waits[4], .milliseconds(390))
        XCTAssertLessThanOrEqual(waits[4], .milliseconds(410))
    }

    func testThrottleHalvesAtMostOncePerSecond() {
        let limiter = RateLimiter(rate: 40)
        limiter.throttled()
        XCTAssertEqual(limiter.currentRate, 20)
        limiter.throttled()  // a burst of throttle answers counts once
        XCTAssertEqual(limiter.currentRate, 20)
        XCTAssertEqual(limiter.configuredRate, 40)
    }

    func testUnlimitedGetsARateFromTheFirstThrottle() {
        let limiter = RateLimiter(rate: nil)
        XCTAssertNil(limiter.currentRate)
        for _ in 0..<100 { _ = limiter.reserve() }
        limiter.throttled()
        XCTAssertEqual(limiter.currentRate, 50, "half of the 100 calls just made")
    }
}
