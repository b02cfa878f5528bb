import Foundation
@testable import GrantWorker
@testable import QueueHotPath
import XCTest

/// The drain's rule for calls still in flight at the timeout: what is handed back
/// is never written again by the call that finishes late, and a job claimed anew
/// (a later attempt) is not mistaken for the old claim.
final class InFlightJobsTests: XCTestCase {
    func job(_ id: Int64, attempt: Int32 = 1) -> ClaimedGrantJob {
        ClaimedGrantJob(id: id, toCorpIds: ["ding1"], optUserId: "u\(id)", fields: [], attempt: attempt, maxAttempts: 10,
                        lockedUntil: Date(), priority: 0)
    }

    func testACallThatFinishesAfterTheHandBackSubmitsNothing() {
        let inFlight = InFlightJobs()
        inFlight.add([job(1), job(2), job(3)])
        var submitted: [Int64] = []
        XCTAssertEqual(inFlight.remove(job(1)) { submitted.append(1) }, 2, "finished before the timeout: submitted")
        let handedBack = inFlight.removeAll().map(\.id).sorted()
        XCTAssertEqual(handedBack, [2, 3])
        XCTAssertNil(inFlight.remove(job(2)) { submitted.append(2) }, "finished after: the job is no longer ours")
        XCTAssertEqual(submitted, [1])
        XCTAssertEqual(inFlight.count, 0)
    }

    func testAnOlderAttemptCannotRemoveTheNewClaim() {
        let inFlight = InFlightJobs()
        inFlight.add([job(5, attempt: 2)])
        var ran = false
        XCTAssertNil(inFlight.remove(job(5, attempt: 1)) { ran = true })
        XCTAssertFalse(ran)
        XCTAssertEqual(inFlight.ids, [5])
    }

    /// A lease's start only moves forward: a renewal sent before the claim says nothing.
    func testARenewalMovesTheLeaseStartOnlyForward() {
        let clock = ManualClock()
        let inFlight = InFlightJobs()
        let claimedAt = clock.now
        inFlight.add([job(9)], claimedAt: claimedAt)
        inFlight.renewed([9], sentAt: claimedAt - .seconds(1))
        XCTAssertEqual(inFlight.leaseStart(of: job(9)), claimedAt)
        clock.advance(by: .seconds(10))
        inFlight.renewed([9], sentAt: clock.now)
        XCTAssertEqual(inFlight.leaseStart(of: job(9)), clock.now)
        XCTAssertNil(inFlight.leaseStart(of: job(9, attempt: 2)))
    }
}
