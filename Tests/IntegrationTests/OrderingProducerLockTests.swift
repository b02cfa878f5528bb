import Foundation
@testable import GrantQueue
import Postgres
@testable import QueueHotPath
import XCTest

/// sql/017: a producer's INSERT takes no lock that a worker waits for, and no lock
/// per key. Each test fails where producers chose heads themselves (014-016):
/// there a statement took one advisory lock per key until its transaction ended.
final class OrderingProducerLockTests: DatabaseTestCase {
    private var queue: GrantQueue { GrantQueue(connection: connection) }

    /// A producer's own session, its lock waits bounded so a wait fails the test
    /// instead of hanging it.
    private func producer() throws -> PostgresConnection {
        let session = try database.connect()
        try session.query("SET lock_timeout = '3s'")
        return session
    }

    private func admitAll(_ queue: GrantQueue) throws -> Int {
        var total = 0
        while case .admitted(let count) = try queue.admitArrivals(), count > 0 { total += count }
        return total
    }

    /// More distinct keys in one statement than the lock table holds (about
    /// max_locks_per_transaction x max_connections): nothing to lock, nothing refused.
    func testOneInsertOfFortyThousandDistinctKeysIsAcceptedAndEveryKeyGetsAHead() throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key)
            SELECT '{d}', 'u' || g, 'key-' || g FROM generate_series(1, 40000) AS g
            """)
        XCTAssertEqual(try admitAll(queue), 40000)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE NOT ordering_blocked"), 40000)
        XCTAssertEqual(try count("SELECT count(DISTINCT ordering_seq) FROM visibility_grant_jobs"), 40000)
    }

    /// Two producers insert two keys in opposite orders, over two statements each:
    /// neither waits for the other.
    func testProducersInsertingKeysInOppositeOrdersNeverWaitForEachOther() throws {
        let first = try producer(), second = try producer()
        let insert = "INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key) VALUES ('{d}', $1, $2)"
        try first.query("BEGIN")
        try second.query("BEGIN")
        try first.query(insert, ["first-a", "a"])
        try second.query(insert, ["second-b", "b"])
        try first.query(insert, ["first-b", "b"])
        try second.query(insert, ["second-a", "a"])
        try first.query("COMMIT")
        try second.query("COMMIT")
        XCTAssertEqual(try admitAll(queue), 4)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE NOT ordering_blocked"), 2, "one head per key")
    }

    /// A producer holds its transaction open with a job on the key whose head a
    /// worker finishes: the completion goes through at once, and so does the rest
    /// of its batch; the producer's job joins the line when it commits.
    func testAnOpenProducerTransactionNeverHoldsACompletionOfItsKey() throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key) VALUES ('{d}', 'shared-1', 'shared'), ('{d}', 'free', NULL)
            """)
        XCTAssertEqual(try admitAll(queue), 1)
        let claimed = try queue.claim(workerID: "w", limit: 10, lease: .seconds(30))
        XCTAssertEqual(claimed.map(\.optUserId), ["shared-1", "free"])

        let open = try producer()
        try open.query("BEGIN")
        try open.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key) VALUES ('{d}', 'shared-2', 'shared')")

        let worker = try database.connect()
        try worker.query("SET statement_timeout = '3s'")
        let done = try GrantQueue(connection: worker).complete(claimed.map {
            GrantJobOutcome(jobID: $0.id, attempt: $0.attempt, disposition: .succeeded, startedAt: Date(), httpStatus: 200)
        }, workerID: "w")
        XCTAssertEqual(done.count, 2, "the completion did not wait for the producer")
        // Nothing the producer has not committed is admitted.
        XCTAssertEqual(try admitAll(queue), 0)
        try open.query("COMMIT")
        XCTAssertEqual(try admitAll(queue), 1)
        XCTAssertEqual(try queue.claim(workerID: "w", limit: 10, lease: .seconds(30)).map(\.optUserId), ["shared-2"])
    }

    /// A producer's second statement on a key a worker is finishing: the producer
    /// never waits for the completion either.
    func testAProducerNeverWaitsForACompletionOfItsKey() throws {
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key) VALUES ('{d}', 'k-1', 'k')")
        _ = try admitAll(queue)
        let claimed = try queue.claim(workerID: "w", limit: 1, lease: .seconds(30))
        let worker = try database.connect()
        try worker.query("BEGIN")
        try GrantQueue(connection: worker).complete(claimed.map {
            GrantJobOutcome(jobID: $0.id, attempt: $0.attempt, disposition: .succeeded, startedAt: Date(), httpStatus: 200)
        }, workerID: "w")
        let open = try producer()
        try open.query("BEGIN")
        try open.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key) VALUES ('{d}', 'k-2', 'k')")
        try open.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key) VALUES ('{d}', 'j-1', 'j')")
        try open.query("COMMIT")
        try worker.query("COMMIT")
        XCTAssertEqual(try admitAll(queue), 2)
        XCTAssertEqual(try queue.claim(workerID: "w", limit: 10, lease: .seconds(30)).map(\.optUserId).sorted(), ["j-1", "k-2"])
    }
}
