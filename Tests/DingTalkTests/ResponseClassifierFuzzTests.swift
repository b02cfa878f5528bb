import DingTalk
@testable import FakeDingTalk
import XCTest

/// Random and mutated bodies: the classifier must give every one a class, and
/// must call success only what really is `{"result": true}` on a 200.
final class ResponseClassifierFuzzTests: XCTestCase {
    static let seeds: [String] = [
        #"{"result":true}"#,
        #"{"code":"invalid.param","message":"参数错误","requestid":"ABC"}"#,
        #"{"code":"Forbidden.AccessDenied.QpsLimitForAppkeyAndApi","message":"m","requestid":"1"}"#,
        #"{"accessToken":"x","expireIn":7200}"#,
        #"{"punish":"deny","code":"x"}"#,
        "<html><body>banned</body></html>",
    ]

    func testRandomAndMutatedBodiesAreAlwaysClassified() {
        var generator = SplitMix64(seed: 20_261_125)
        let statuses = [200, 400, 403, 404, 429, 500, 502, 503]
        var successes = 0
        for round in 0..<20_000 {
            var body: [UInt8]
            if round % 4 == 0 {
                body = (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            } else {
                body = Array(Self.seeds.randomElement(using: &generator)!.utf8)
                for _ in 0..<Int.random(in: 1...4, using: &generator) where !body.isEmpty {
                    let index = Int.random(in: 0..<body.count, using: &generator)
                    switch Int.random(in: 0...3, using: &generator) {
                    case 0: body[index] = UInt8.random(in: 0...255, using: &generator)
                    case 1: body.remove(at: index)
                    case 2: body.insert(UInt8.random(in: 32...126, using: &generator), at: index)
                    default: body = Array(body[..<index])
                    }
                }
            }
            let status = statuses.randomElement(using: &generator)!
            let result = ResponseClassifier.classify(status: status, requestIDHeader: "H", body: body)
            if result.outcomeClass == .success {
                successes += 1
                XCTAssertEqual(status, 200)
                let text = String(decoding: body, as: UTF8.self)
                XCTAssertTrue(text.contains("true") && text.contains("result"), "success for \(text.debugDescription)")
                XCTAssertNil(result.code)
            } else {
                XCTAssertNotNil(result.code, "every failure carries a code to record")
            }
            XCTAssertNotNil(result.requestID, "the header's request id is never lost")
        }
        XCTAssertGreaterThan(successes, 0, "the mutations never left a valid success body; the test proves nothing")
    }
}
