import GrantQueue
@testable import GrantWorker
import XCTest

/// When the producer admits keyed arrivals: moved by instants it is given, no clock read.
final class ArrivalAdmissionTests: XCTestCase {
    func testAFullPassGoesAgainAtOnceAndAnEmptyOneWaitsItsInterval() {
        let start = ContinuousClock.now
        var admission = ArrivalAdmission(interval: .milliseconds(250))
        admission.record(.admitted(GrantQueue.admissionBatch), at: start)
        XCTAssertTrue(admission.isDue(at: start), "a bulk load's arrivals are admitted pass after pass")
        admission.record(.admitted(3), at: start)
        XCTAssertFalse(admission.isDue(at: start + .milliseconds(249)))
        XCTAssertTrue(admission.isDue(at: start + .milliseconds(250)))
        XCTAssertEqual(admission.timeUntilDue(from: start + .milliseconds(100)), .milliseconds(150))
    }

    func testAnotherWorkersPassIsFollowedShortlyAndANotificationAtOnce() {
        let start = ContinuousClock.now
        var admission = ArrivalAdmission(interval: .seconds(1))
        admission.record(.busyElsewhere, at: start)
        XCTAssertFalse(admission.isDue(at: start + ArrivalAdmission.busyRetry - .milliseconds(1)))
        XCTAssertTrue(admission.isDue(at: start + ArrivalAdmission.busyRetry))
        admission.record(.admitted(0), at: start)
        admission.soon()
        XCTAssertTrue(admission.isDue(at: .now))
    }
}
