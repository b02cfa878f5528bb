import FakeDingTalk
import Foundation
import GrantQueue
import Postgres
import XCTest

/// Several processes, one budget: `--global-qps` is shared through PostgreSQL.
final class FleetQuotaTests: DatabaseTestCase {
    func testThreeWorkersShareTheGlobalCapWithoutBeingThrottled() async throws {
        let server = try await startFake { options in
            options.qps = 50
            options.latency = .milliseconds(5)
        }
        try insertJobs(3000)
        let environment = try workerEnvironment(server)
        // The fleet's cap sits a tenth below the API's limit: on a shared two-core machine a
        // worker can be held up for tens of milliseconds between its turn and its call, and
        // the calls it then sends late bunch with the others'. What is checked is the sharing:
        // three workers each left to 45/s would send 135 calls a second.
        let workers = try (0..<3).map { _ in
            try startWorker(["run", "--global-qps", "45", "--concurrency", "16", "--drain-timeout", "2s"], environment: environment)
        }
        // Let them warm up (token fetch, first claims), then let 450 calls (ten seconds of
        // the cap) go out.
        try await waitUntil(timeout: .seconds(30), "the fleet to warm up") { server.state.applied.count >= 50 }
        let first = server.state.stats.calls
        let measured = 450
        try await waitUntil(timeout: .seconds(60), "\(measured) calls") { server.state.stats.calls >= first + measured }
        let throttled = server.state.stats.codes["Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", default: 0]
        for worker in workers { worker.process.terminate() }
        for worker in workers {
            let result = try await worker.wait(timeout: .seconds(20))
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        // Counted by the API itself: its one-second window at 50 calls answers a throttle
        // for every call above it, so three workers each left to 45/s (135 a second)
        // would be throttled hundreds of times over these 450 calls.
        XCTAssertEqual(throttled, 0, "the fleet went over the API's limit: the workers did not share one budget")
    }
}
