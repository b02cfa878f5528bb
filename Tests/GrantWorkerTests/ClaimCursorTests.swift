import Foundation
@testable import GrantWorker
@testable import QueueHotPath
import XCTest

/// Where an app's next claim starts: moved by instants it is given, no clock read.
final class ClaimCursorTests: XCTestCase {
    private func job(_ id: Int64, priority: Int16 = 0, runAt seconds: Double = 100) -> ClaimedGrantJob {
        ClaimedGrantJob(id: id, toCorpIds: ["ding"], optUserId: "u\(id)", fields: [], attempt: 1, maxAttempts: 10,
                        lockedUntil: Date(timeIntervalSince1970: 1000), priority: priority,
                        runAt: Date(timeIntervalSince1970: seconds))
    }

    func testAFreshCursorReadsFromTheStart() {
        XCTAssertEqual(ClaimCursor().start(at: .now), .start)
    }

    func testARescanIsRepeatedOnlyWhenItCostsAtMostItsShare() {
        let t0 = ContinuousClock.now
        var cursor = ClaimCursor()
        cursor.record([job(3), job(1), job(2)], from: .start, elapsed: .milliseconds(10), at: t0)
        XCTAssertEqual(cursor.position, job(3).position, "the batch's last place in claim order")
        // A rescan of 10 ms may come back after 190 ms: 10 of every 200 ms, 5 %.
        XCTAssertEqual(cursor.start(at: t0 + .milliseconds(189)), job(3).position)
        XCTAssertEqual(cursor.start(at: t0 + .milliseconds(190)), .start)

        // A dearer rescan (a pinned horizon) spaces the next one further.
        cursor.record([job(7)], from: .start, elapsed: .milliseconds(100), at: t0 + .milliseconds(300))
        XCTAssertEqual(cursor.start(at: t0 + .milliseconds(300) + .milliseconds(1899)), job(7).position)
        XCTAssertEqual(cursor.start(at: t0 + .milliseconds(300) + .milliseconds(1900)), .start)
    }

    func testClaimsAfterThePositionMoveItForward() {
        let t0 = ContinuousClock.now
        var cursor = ClaimCursor()
        cursor.record([job(1)], from: .start, elapsed: .seconds(1), at: t0)
        cursor.record([job(5), job(4)], from: job(1).position, elapsed: .milliseconds(1), at: t0 + .milliseconds(2))
        XCTAssertEqual(cursor.start(at: t0 + .milliseconds(3)), job(5).position)
    }

    func testNothingAfterThePositionIsTriedAgainFromTheStartAtOnce() {
        XCTAssertTrue(ClaimCursor.retryFromStart(after: job(1).position, claimed: 0),
                      "jobs behind the position (a key's next job, a released one) are found this turn")
        XCTAssertFalse(ClaimCursor.retryFromStart(after: job(1).position, claimed: 1))
        XCTAssertFalse(ClaimCursor.retryFromStart(after: .start, claimed: 0), "from the start, nothing is there: the app is idle")
    }

    func testARescanThatFindsJobsBehindThePositionMovesItBack() {
        let t0 = ContinuousClock.now
        var cursor = ClaimCursor()
        cursor.record([job(50)], from: .start, elapsed: .zero, at: t0)
        cursor.record([job(9, priority: 5)], from: .start, elapsed: .zero, at: t0 + .milliseconds(1))
        XCTAssertEqual(cursor.position, job(9, priority: 5).position,
                       "more jobs of priority 5 may follow it, before job 50")
    }

    func testTheClaimOrderIsPriorityThenRunAtThenId() {
        XCTAssertLessThan(job(9, priority: 5).position, job(1, priority: 0).position)
        XCTAssertLessThan(job(9, runAt: 10).position, job(1, runAt: 20).position)
        XCTAssertLessThan(job(1).position, job(2).position)
        XCTAssertLessThan(ClaimPosition.start, job(1, priority: .max).position)
    }
}
