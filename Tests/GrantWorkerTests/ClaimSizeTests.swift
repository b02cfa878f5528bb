@testable import GrantWorker
import XCTest

/// What one turn claims (docs/DESIGN.md, A job's path, step 3): rate, probes and backpressure.
final class ClaimSizeTests: XCTestCase {
    let size = ClaimSize(batchSize: 64)

    func decide(calls: Int = 1000, retryAfter: Duration = .zero, hostProbing: Bool = false, inFlight: Int = 0,
                probeTurn: Bool = false, unwritten: Int = 0, fleet: Int? = nil) -> ClaimSize.Decision {
        size.decide(rate: (calls, retryAfter), hostProbing: hostProbing, callsInFlight: inFlight, probeTurn: probeTurn,
                    unwrittenOutcomes: unwritten, fleetClaimSize: fleet)
    }

    func testABatchIsTheSmallerOfTheBatchSizeAndTheRate() {
        XCTAssertEqual(decide(), .claim(64))
        XCTAssertEqual(decide(calls: 5), .claim(5))
        XCTAssertEqual(decide(fleet: 4), .claim(4), "a fleet budget claims a quarter of a second of it")
    }

    func testAnAppWithoutRateLeftIsSkippedForItsWait() {
        XCTAssertEqual(decide(calls: 0, retryAfter: .milliseconds(40)), .appNotReady(for: .milliseconds(40)))
    }

    /// After a host-wide pause: one call at a time until the API answers normally.
    func testAHostProbeClaimsOneJobAndOnlyWithNothingInFlight() {
        XCTAssertEqual(decide(hostProbing: true), .claim(1))
        XCTAssertEqual(decide(hostProbing: true, inFlight: 1), .holdOff(.milliseconds(50)))
        XCTAssertEqual(decide(probeTurn: true), .claim(1), "an app's own probe after its pause")
    }

    /// The producer stops claiming while the completer holds more than a few batches.
    func testBackpressureHoldsClaimsWhileOutcomesWait() {
        XCTAssertEqual(size.unwrittenLimit, 2000, "max(4 x 64, 2 x the completer's largest statement)")
        XCTAssertEqual(decide(unwritten: 2000), .claim(64))
        XCTAssertEqual(decide(unwritten: 2001), .holdOff(.milliseconds(5)))
        XCTAssertEqual(ClaimSize(batchSize: 1000).unwrittenLimit, 4000)
    }
}
