@testable import GrantWorker
import XCTest

/// Driven by a manual clock: each expectation is exact.
final class RateLimiterTests: XCTestCase {
    let clock = ManualClock()

    func testSpacesCallsToTheRate() {
        let limiter = RateLimiter(rate: 10, now: clock.reader)
        let waits = (0..<5).map { _ in limiter.reserve() }
        XCTAssertEqual(waits, [.zero, .milliseconds(100), .milliseconds(200), .milliseconds(300), .milliseconds(400)])
        clock.advance(by: .seconds(2))
        XCTAssertEqual(limiter.reserve(), .zero, "slots not taken while idle are not saved up for a burst")
        XCTAssertEqual(limiter.reserve(), .milliseconds(100))
    }

    func testThrottleHalvesAtMostOncePerSecond() {
        let limiter = RateLimiter(rate: 40, now: clock.reader)
        limiter.throttled()
        XCTAssertEqual(limiter.currentRate, 20)
        clock.advance(by: .milliseconds(999))
        limiter.throttled()  // a burst of throttle answers counts once
        XCTAssertEqual(limiter.currentRate, 20)
        clock.advance(by: .milliseconds(1))
        limiter.throttled()
        XCTAssertEqual(limiter.currentRate, 10)
        XCTAssertEqual(limiter.configuredRate, 40)
    }

    func testSuccessGrowsTheRateBackByATenthPerSecond() throws {
        let limiter = RateLimiter(rate: 40, now: clock.reader)
        limiter.throttled()
        clock.advance(by: .seconds(1))
        limiter.succeeded()
        XCTAssertEqual(try XCTUnwrap(limiter.currentRate), 22, accuracy: 0.001)
        clock.advance(by: .milliseconds(50))
        limiter.succeeded()  // within 100 ms of the last increase: no change
        XCTAssertEqual(try XCTUnwrap(limiter.currentRate), 22, accuracy: 0.001)
    }

    func testUnlimitedGetsARateFromTheFirstThrottle() {
        let limiter = RateLimiter(rate: nil, now: clock.reader)
        XCTAssertNil(limiter.currentRate)
        for _ in 0..<100 {
            _ = limiter.reserve()
            clock.advance(by: .milliseconds(10))
        }
        limiter.throttled()
        XCTAssertEqual(limiter.currentRate, 50, "half of the 100 calls of the last second")
    }
}
