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
        XCTAssertGreaterThanOrEqual(rate, 36, "the fleet used only \(rate) of its 45 calls/s")
        XCTAssertLessThanOrEqual(rate, 46)
    }
}
