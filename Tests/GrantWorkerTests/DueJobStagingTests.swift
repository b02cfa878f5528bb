import GrantQueue
@testable import GrantWorker
import QueueHotPath
import XCTest

/// When the producer stages jobs queued for later: moved by instants it is given.
final class DueJobStagingTests: XCTestCase {
    func testAJobIsStagedBeforeItsRunAt() {
        XCTAssertLessThanOrEqual(GrantQueue.stagingInterval, GrantQueue.stagingLookahead,
                                 "a stager that runs less often than its lookahead lets a due job wait")
    }

    func testAFullBatchGoesAgainAtOnceAndAShortOneWaitsItsInterval() {
        var staging = DueJobStaging(interval: .seconds(1))
        let t0 = ContinuousClock.now
        XCTAssertTrue(staging.isDue(at: t0), "a worker stages when it starts")
        staging.record(moved: GrantQueue.stagingBatch, at: t0)
        XCTAssertTrue(staging.isDue(at: t0))
        staging.record(moved: 3, at: t0)
        XCTAssertFalse(staging.isDue(at: t0 + .milliseconds(999)))
        XCTAssertTrue(staging.isDue(at: t0 + .seconds(1)))
        XCTAssertEqual(staging.timeUntilDue(from: t0 + .milliseconds(400)), .milliseconds(600))
    }
}
