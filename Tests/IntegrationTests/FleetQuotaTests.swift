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
        let workers = try (0..<3).map { _ in
            try startWorker(["run", "--global-qps", "50", "--concurrency", "16", "--drain-timeout", "2s"], environment: environment)
        }
        // Let them warm up (token fetch, first claims), then measure ten seconds.
        try waitUntil(timeout: .seconds(30), "the fleet to warm up") { server.state.applied.count >= 50 }
        let appliedBefore = server.state.applied.count
        let started = ContinuousClock.now
        try await Task.sleep(for: .seconds(10))  // the measurement window itself
        let appliedAfter = server.state.applied.count
        let elapsed = (ContinuousClock.now - started)
        let throttled = server.state.stats.codes["Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", default: 0]
        for worker in workers { worker.process.terminate() }
        for worker in workers {
            let result = try worker.wait(timeout: .seconds(20))
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        let rate = Double(appliedAfter - appliedBefore) / elapsed.seconds
        XCTAssertEqual(throttled, 0, "the fleet went over the API's limit")
        XCTAssertGreaterThanOrEqual(rate, 45, "the fleet used only \(rate) of 50 calls/s")
        XCTAssertLessThanOrEqual(rate, 51)
    }
}
