@testable import GrantWorker
import XCTest

final class RescueWindowTests: XCTestCase {
    private let start = ContinuousClock.now

    func testTheFirstPassLooksAllTheWayAndTheNextOnlyBackToIt() {
        var window = RescueWindow()
        XCTAssertNil(window.lookBack(at: start))
        window.record(passStartedAt: start, lookBack: nil, rescued: 3, limit: 1000)
        XCTAssertEqual(window.lookBack(at: start + .seconds(10)), .seconds(10) + RescueWindow.overlap)
        window.record(passStartedAt: start + .seconds(10), lookBack: .seconds(15), rescued: 0, limit: 1000)
        XCTAssertEqual(window.lookBack(at: start + .seconds(20)), .seconds(10) + RescueWindow.overlap)
    }

    func testAPassThatTookItsLimitLeavesTheWindowWhereItWas() {
        var window = RescueWindow()
        window.record(passStartedAt: start, lookBack: nil, rescued: 0, limit: 1000)
        window.record(passStartedAt: start + .seconds(10), lookBack: .seconds(15), rescued: 1000, limit: 1000)
        XCTAssertEqual(window.lookBack(at: start + .seconds(20)), .seconds(20) + RescueWindow.overlap,
                       "more may have run out in the stretch the full pass did not finish")
        var fresh = RescueWindow()
        fresh.record(passStartedAt: start, lookBack: nil, rescued: 1000, limit: 1000)
        XCTAssertNil(fresh.lookBack(at: start + .seconds(10)), "a full pass that took its limit is done again")
    }

    func testEveryFewMinutesAPassLooksAllTheWayAgain() {
        var window = RescueWindow()
        window.record(passStartedAt: start, lookBack: nil, rescued: 0, limit: 1000)
        var now = start
        while now - start < RescueWindow.fullPassInterval - .seconds(10) {
            now += .seconds(10)
            let lookBack = window.lookBack(at: now)
            XCTAssertNotNil(lookBack)
            window.record(passStartedAt: now, lookBack: lookBack, rescued: 0, limit: 1000)
        }
        XCTAssertNil(window.lookBack(at: start + RescueWindow.fullPassInterval))
    }
}
