import DingTalk
import Foundation
import XCTest

/// The `fake-dingtalk` command as scripts use it: the URL on the first line, and
/// a clean exit on SIGTERM even after serving traffic with connections still open.
final class FakeDingTalkProcessTests: XCTestCase {
    func testPrintsItsURLAndStopsOnSIGTERMWithConnectionsOpen() async throws {
        let fake = try startWorker(["fake-dingtalk", "--port", "0", "--accept-token", "t"])
        var firstLine = ""
        try await waitUntil(timeout: .seconds(10), "the first line") {
            firstLine = fake.stdoutSoFar.split(separator: "\n").first.map(String.init) ?? ""
            return !firstLine.isEmpty
        }
        XCTAssertTrue(firstLine.hasPrefix("listening on http://127.0.0.1:"), firstLine)
        let baseURL = String(firstLine.dropFirst("listening on ".count))

        let transport = try AsyncHTTPClientTransport()
        let client = DingTalkClient(baseURL: baseURL, tokenProvider: StaticAccessTokenProvider(token: "t"), transport: transport)
        for index in 0..<20 {
            let result = await client.apply(VisibilityGrant(toCorpIds: ["ding\(index)"], optUserId: "u"))
            XCTAssertEqual(result.outcomeClass, .success)
        }
        // The client's keep-alive connections stay open while the fake is told to stop.
        fake.process.terminate()
        let result = try await fake.wait(timeout: .seconds(10))
        XCTAssertEqual(result.status, 0, result.stderr)
        try await transport.shutdown()
    }
}
