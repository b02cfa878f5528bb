@testable import GrantWorker
import XCTest

/// A host-wide pause (DingTalk's ban) ends with one probe: refused probes keep it,
/// one normal answer ends it.
final class PauseGateTests: XCTestCase {
    func testAPauseStaysWhileItsProbeIsRefusedAndEndsAfterOneGoodProbe() async throws {
        let gate = PauseGate()
        XCTAssertTrue(gate.pause(for: .milliseconds(30), reason: "banned"), "a new pause is logged")
        XCTAssertNotNil(gate.active)
        XCTAssertFalse(gate.answeredNormally(), "an answer in flight when the pause began does not end it")
        XCTAssertNotNil(gate.active)

        for _ in 0..<2 {
            try await Task.sleep(for: .milliseconds(40))
            XCTAssertNotNil(gate.takeExpired(), "the pause ran out: one probe call")
            XCTAssertTrue(gate.isProbing)
            XCTAssertNil(gate.active)
            // The probe is refused with another ban: paused again, not logged again.
            XCTAssertFalse(gate.pause(for: .milliseconds(30), reason: "banned"))
            XCTAssertNotNil(gate.active)
            XCTAssertTrue(gate.report?.reason == "banned")
        }

        try await Task.sleep(for: .milliseconds(40))
        XCTAssertNotNil(gate.takeExpired())
        XCTAssertTrue(gate.report?.reason.hasPrefix("probing after: ") == true, "status says it is probing")
        XCTAssertTrue(gate.answeredNormally(), "one good probe ends the pause")
        XCTAssertFalse(gate.isProbing)
        XCTAssertNil(gate.report)
        XCTAssertFalse(gate.answeredNormally(), "resumed once")
    }
}
