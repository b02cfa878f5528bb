import FakeDingTalk
import Foundation
import GrantQueue
import Postgres
import QueueHotPath
import XCTest

final class OrderingTests: DatabaseTestCase {
    func testJobsSharingAKeyRunOneAtATimeInIDOrder() throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key) VALUES
              ('{d1}', 'a1', 'k'), ('{d2}', 'a2', 'k'), ('{d3}', 'free', NULL), ('{d4}', 'b1', 'other')
            """)
        let queue = GrantQueue(connection: connection)
        XCTAssertEqual(try queue.admitArrivals(), .admitted(3), "a worker gives each keyed job its place in line")
        let first = try queue.claim(workerID: "w", limit: 10, lease: .seconds(30))
        XCTAssertEqual(first.map(\.optUserId), ["a1", "free", "b1"], "a2 waits for a1")
        // A retry keeps the key blocked: a2 must not overtake a1.
        try queue.complete([GrantJobOutcome(jobID: first[0].id, attempt: 1, disposition: .retry(at: Date(timeIntervalSinceNow: -1)),
                                            startedAt: Date(), httpStatus: 500, errorCode: "system.busy")], workerID: "w")
        XCTAssertEqual(try queue.claim(workerID: "w", limit: 10, lease: .seconds(30)).map(\.optUserId), ["a1"])
        try queue.complete([GrantJobOutcome(jobID: first[0].id, attempt: 2, disposition: .succeeded, startedAt: Date(), httpStatus: 200)],
                           workerID: "w")
        XCTAssertEqual(try queue.claim(workerID: "w", limit: 10, lease: .seconds(30)).map(\.optUserId), ["a2"])
    }

    func testFiftyKeysTimesTwentyJobsAreAppliedInIDOrderByThreeWorkersUnderFaults() async throws {
        let server = try await startFake { options in
            options.faults = try .init(parsing: "system.busy=0.2,reset=0.02")
            options.latency = .milliseconds(2)
            options.seed = 11
        }
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key)
            SELECT ARRAY['ding' || k], 'key' || k || '-seq' || s, 'ding' || k
            FROM generate_series(1, 20) AS s, generate_series(1, 50) AS k
            ORDER BY s, k
            """)
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id) SELECT ARRAY['dingfree'], 'free-' || g FROM generate_series(1, 100) g")
        let environment = try workerEnvironment(server)
        let arguments = ["run", "--until-empty", "--concurrency", "16", "--backoff-base", "20ms", "--backoff-max", "200ms",
                         "--poll-interval", "100ms"]
        let workers = try (0..<3).map { _ in try startWorker(arguments, environment: environment) }
        for worker in workers {
            let result = try await worker.wait(timeout: .seconds(240))
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state <> 'succeeded'"), 0)
        var lastSequence: [String: Int] = [:]
        var outOfOrder: [String] = []
        for grant in server.state.applied where grant.optUserId.hasPrefix("key") {
            let parts = grant.optUserId.split(separator: "-")
            let key = String(parts[0])
            let sequence = Int(parts[1].dropFirst(3))!
            if sequence != (lastSequence[key] ?? 0) + 1 { outOfOrder.append(grant.optUserId) }
            lastSequence[key] = sequence
        }
        XCTAssertEqual(outOfOrder, [], "grants of one key reached the API out of id order")
        XCTAssertEqual(lastSequence.count, 50)
        XCTAssertTrue(lastSequence.values.allSatisfy { $0 == 20 })
        XCTAssertGreaterThan(server.state.stats.codes["system.busy", default: 0], 0)
    }

    /// With a one-minute poll, a worker between two jobs of one key waits for a
    /// notification or at most half a second (its idle slice when it listens): 200
    /// jobs one after the other within 40 s are possible only if finishing each job
    /// wakes it for the next.
    func testATwoHundredJobKeyDrainsOnWakeUpsAloneWithAOneMinutePoll() async throws {
        try await drainOneKeyOnWakeUps(extraArguments: [])
    }

    /// The same without notifications (transaction pool mode, no LISTEN): between two
    /// jobs the producer would sleep the whole minute, unless its completer, having
    /// written a finished job, wakes it.
    func testATwoHundredJobKeyDrainsOnTheCompletersWakeUpsInTransactionPoolMode() async throws {
        try await drainOneKeyOnWakeUps(extraArguments: ["--pool-mode", "transaction"])
    }

    private func drainOneKeyOnWakeUps(extraArguments: [String]) async throws {
        let server = try await startFake()
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key)
            SELECT ARRAY['ding1'], 'one-' || g, 'one' FROM generate_series(1, 200) AS g
            """)
        let worker = try startWorker(["run", "--until-empty", "--concurrency", "8", "--poll-interval", "60s"] + extraArguments,
                                     environment: try workerEnvironment(server))
        // Not a timing: on polls alone the 199 successors would take 199 minutes; the
        // bound only keeps a broken build from hanging the suite.
        let result = try await worker.wait(timeout: .seconds(180))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded'"), 200)
        XCTAssertEqual(server.state.applied.map(\.optUserId), (1...200).map { "one-\($0)" })
    }
}
