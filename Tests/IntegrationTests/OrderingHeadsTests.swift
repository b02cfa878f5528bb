import Foundation
@testable import GrantQueue
import Postgres
@testable import QueueHotPath
import XCTest

/// sql/014_ordering_heads.sql and 017: of a key's unfinished jobs only its head is
/// claimable, blocked jobs stay out of the claim index, a worker's admission gives
/// each arrival its place in line, and the next job goes in the transaction that
/// finishes the one before.
final class OrderingHeadsTests: DatabaseTestCase {
    private var queue: GrantQueue { GrantQueue(connection: connection) }

    /// As a worker does before it claims: committed arrivals get their place in line.
    private func claimNames(_ limit: Int = 10) throws -> [String] {
        try admit()
        return try queue.claim(workerID: "w", limit: limit, lease: .seconds(30)).map(\.optUserId)
    }

    private func admit() throws {
        while case .admitted(let count) = try queue.admitArrivals(), count > 0 {}
    }

    private func succeed(_ name: String) throws {
        let row = try XCTUnwrap(connection.query("SELECT id, attempts FROM visibility_grant_jobs WHERE opt_user_id = $1", [name]).first)
        let done = try queue.complete([GrantJobOutcome(jobID: try row.decode(0), attempt: try row.decode(1), disposition: .succeeded,
                                                       startedAt: Date(), httpStatus: 200)], workerID: "w")
        XCTAssertEqual(done.count, 1, "\(name) was not running for w")
    }

    private func unblocked(key: String) throws -> [String] {
        try admit()
        return try connection.query("""
            SELECT opt_user_id FROM visibility_grant_jobs
            WHERE ordering_key = $1 AND state IN ('pending', 'running') AND NOT ordering_blocked ORDER BY id
            """, [key]).map { try $0.decode(0) }
    }

    func testALongKeyCostsTheClaimOneRowAndItsSuccessorGoesInTheFinishingTransaction() throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key)
            SELECT ARRAY['ding1'], 'long-' || g, 'long' FROM generate_series(1, 300) AS g
            """)
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id) VALUES ('{ding2}', 'free-1'), ('{ding2}', 'free-2')")
        XCTAssertEqual(try unblocked(key: "long"), ["long-1"])
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE ordering_blocked"), 299)
        // The claim index holds what may be claimed now: the claim reads the key's head and
        // the free jobs, 3 rows, not the 299 waiting behind the head.
        try connection.query("ANALYZE visibility_grant_jobs")
        try connection.query("BEGIN")
        // On a table this small the planner would rather read it whole; what matters is what the index holds.
        try connection.query("SET LOCAL enable_seqscan = off")
        try connection.query("SET LOCAL enable_bitmapscan = off")
        let plan = try connection.query("EXPLAIN (ANALYZE, COSTS OFF) " + GrantQueue.claimBatch.sql, GrantQueue.claimParameters(workerID: "w", limit: 10, lease: .seconds(30)))
            .map { try $0.decode(0, as: String.self) }
        try connection.query("ROLLBACK")
        let scan = try XCTUnwrap(plan.first { $0.contains("visibility_grant_jobs_claim_order") }, plan.joined(separator: "\n"))
        XCTAssertTrue(scan.contains(" rows=3 loops=1"), plan.joined(separator: "\n"))

        XCTAssertEqual(try claimNames(), ["long-1", "free-1", "free-2"])
        XCTAssertEqual(try claimNames(), [], "long-2 waits while long-1 runs")

        let listener = try database.connect()
        try listener.listen(GrantQueue.notificationChannel)
        _ = try listener.waitForNotifications(timeout: .milliseconds(1))  // whatever the inserts sent
        try connection.query("BEGIN")
        try succeed("long-1")
        XCTAssertEqual(try unblocked(key: "long"), ["long-2"], "the successor is the head within the finishing transaction")
        try connection.query("COMMIT")
        let woken = try listener.waitForNotifications(timeout: .seconds(5))
        XCTAssertEqual(woken.map(\.channel), [GrantQueue.notificationChannel], "finishing a keyed job wakes idle workers")
        XCTAssertEqual(try claimNames(), ["long-2"])
    }

    /// The line is the order of admission: an id drawn early by a transaction that
    /// commits late does not jump it; jobs admitted together go in id order.
    func testALowerIDThatCommitsLateTakesItsPlaceAtTheBackOfTheLine() throws {
        try connection.query("INSERT INTO visibility_grant_jobs (id, to_corp_ids, opt_user_id, ordering_key) OVERRIDING SYSTEM VALUE VALUES (100, '{d}', 'k-100', 'k')")
        try admit()
        try connection.query("INSERT INTO visibility_grant_jobs (id, to_corp_ids, opt_user_id, ordering_key) OVERRIDING SYSTEM VALUE VALUES (90, '{d}', 'k-90', 'k')")
        XCTAssertEqual(try unblocked(key: "k"), ["k-100"])
        XCTAssertEqual(try claimNames(), ["k-100"])
        try connection.query("""
            INSERT INTO visibility_grant_jobs (id, to_corp_ids, opt_user_id, ordering_key) OVERRIDING SYSTEM VALUE
            VALUES (80, '{d}', 'k-80', 'k'), (70, '{d}', 'k-70', 'k')
            """)
        XCTAssertEqual(try claimNames(), [], "k-100 runs")
        try succeed("k-100")
        XCTAssertEqual(try claimNames(), ["k-90"])
        try succeed("k-90")
        XCTAssertEqual(try claimNames(), ["k-70"])
        try succeed("k-70")
        XCTAssertEqual(try claimNames(), ["k-80"])
        let line = try connection.query("SELECT opt_user_id FROM visibility_grant_jobs WHERE ordering_key = 'k' ORDER BY ordering_seq")
            .map { try $0.decode(0, as: String.self) }
        XCTAssertEqual(line, ["k-100", "k-90", "k-70", "k-80"])
    }

    func testARetriedOlderJobTakesItsKeyBackAndAHeadDueLaterHoldsIt() throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key) VALUES
              ('{d}', 'a1', 'k'), ('{d}', 'a2', 'k'), ('{d}', 'a3', 'k')
            """)
        try admit()
        let first = try queue.claim(workerID: "w", limit: 10, lease: .seconds(30))
        XCTAssertEqual(first.map(\.optUserId), ["a1"])
        try queue.complete([GrantJobOutcome(jobID: first[0].id, attempt: 1, disposition: .failed, startedAt: Date(),
                                            httpStatus: 400, errorCode: "employee.not.exist")], workerID: "w")
        XCTAssertEqual(try unblocked(key: "k"), ["a2"], "a failed job lets the next one go")
        // `retry` puts a1 back: it is older, so a2 waits again.
        XCTAssertEqual(try queue.retryFailed(.init(ids: [first[0].id]), moreAttempts: 5), 1)
        XCTAssertEqual(try unblocked(key: "k"), ["a1"])
        // A retriable error pushes the head's run_at out: the key waits for it, nothing overtakes.
        let again = try queue.claim(workerID: "w", limit: 10, lease: .seconds(30))
        XCTAssertEqual(again.map(\.optUserId), ["a1"])
        try queue.complete([GrantJobOutcome(jobID: again[0].id, attempt: again[0].attempt, disposition: .retry(at: Date(timeIntervalSinceNow: 3600)),
                                            startedAt: Date(), httpStatus: 500, errorCode: "system.busy")], workerID: "w")
        XCTAssertEqual(try claimNames(), [])
        XCTAssertEqual(try unblocked(key: "k"), ["a1"])
        // Cancelling the waiting head, or deleting it, lets the next one go.
        XCTAssertEqual(try queue.cancelPending(ids: [again[0].id], idempotencyKeys: []).cancelled, 1)
        XCTAssertEqual(try unblocked(key: "k"), ["a2"])
        try connection.query("DELETE FROM visibility_grant_jobs WHERE opt_user_id = 'a2'")
        XCTAssertEqual(try claimNames(), ["a3"])
    }

    /// One statement that finishes the heads of several keys, claimed together with
    /// free jobs, lets each key's next job go; a job moved to another key (by hand:
    /// producers cannot update jobs) makes both keys choose their heads again.
    func testOneStatementLetsEveryKeyItFinishesGoOnAndAMovedJobChangesBothKeys() throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key)
            SELECT '{d}', key || s, key FROM generate_series(1, 3) AS s, unnest(ARRAY['a', 'b', 'c']) AS key ORDER BY key, s
            """)
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id) SELECT '{d}', 'free' || g FROM generate_series(1, 3) AS g")
        try admit()
        let batch = try queue.claim(workerID: "w", limit: 10, lease: .seconds(30))
        XCTAssertEqual(batch.map(\.optUserId), ["a1", "b1", "c1", "free1", "free2", "free3"])
        try queue.complete(batch.map { GrantJobOutcome(jobID: $0.id, attempt: $0.attempt, disposition: .succeeded, startedAt: Date(),
                                                       httpStatus: 200) }, workerID: "w")
        XCTAssertEqual(try unblocked(key: "a"), ["a2"])
        XCTAssertEqual(try unblocked(key: "b"), ["b2"])
        XCTAssertEqual(try unblocked(key: "c"), ["c2"])

        // a2 (older than every pending job of b) moves to b: a3 heads a, a2 heads b and b2 waits again.
        try connection.query("UPDATE visibility_grant_jobs SET ordering_key = 'b' WHERE opt_user_id = 'a2'")
        XCTAssertEqual(try unblocked(key: "a"), ["a3"])
        XCTAssertEqual(try unblocked(key: "b"), ["a2"])
        XCTAssertEqual(try claimNames(), ["a2", "a3", "c2"])
    }

    /// A job whose key is taken away (by hand) has a key only on the statement's old
    /// side: the trigger still looks there, and the key's next job goes.
    func testAHeadWhoseKeyIsRemovedLetsTheNextJobGo() throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key) VALUES ('{d}', 'a1', 'a'), ('{d}', 'a2', 'a')
            """)
        XCTAssertEqual(try unblocked(key: "a"), ["a1"])
        try connection.query("UPDATE visibility_grant_jobs SET ordering_key = NULL WHERE opt_user_id = 'a1'")
        XCTAssertEqual(try unblocked(key: "a"), ["a2"])
        XCTAssertEqual(try claimNames(), ["a1", "a2"])
    }

    /// Claims and completions of jobs without a key, most of every queue, never call
    /// the head choice (sql/015, 016): counted by PostgreSQL within the transaction.
    func testStatementsWithoutKeysNeverChooseHeads() throws {
        try insertJobs(100)
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key) VALUES ('{d}', 'k1', 'k')")
        try admit()
        let calls = "SELECT pg_stat_get_xact_function_calls('visibility_ordering_choose_heads(text[], boolean)'::regprocedure)"
        try connection.query("BEGIN")
        try connection.query("SET LOCAL track_functions = 'pl'")
        let free = try queue.claim(workerID: "w", limit: 50, lease: .seconds(30))
        XCTAssertEqual(free.count, 50)
        XCTAssertFalse(free.contains { $0.optUserId == "k1" })
        try queue.complete(free.map { GrantJobOutcome(jobID: $0.id, attempt: $0.attempt, disposition: .succeeded, startedAt: Date(),
                                                      httpStatus: 200) }, workerID: "w")
        XCTAssertEqual(try connection.query(calls).first?.decode(0, as: Int?.self) ?? 0, 0)
        // The keyed job's claim changes no head either; its completion does.
        let rest = try queue.claim(workerID: "w", limit: 60, lease: .seconds(30))
        XCTAssertTrue(rest.contains { $0.optUserId == "k1" })
        XCTAssertEqual(try connection.query(calls).first?.decode(0, as: Int?.self) ?? 0, 0)
        try queue.complete(rest.map { GrantJobOutcome(jobID: $0.id, attempt: $0.attempt, disposition: .succeeded, startedAt: Date(),
                                                      httpStatus: 200) }, workerID: "w")
        XCTAssertEqual(try connection.query(calls).first?.decode(0, as: Int?.self), 1)
        try connection.query("COMMIT")
    }

    func testTheFlagIsTheDatabasesNotTheProducers() throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key, ordering_blocked, ordering_seq) VALUES
              ('{d}', 'free', NULL, true, 7), ('{d}', 'b1', 'b', true, 9), ('{d}', 'b2', 'b', false, 1)
            """)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE ordering_seq IS NOT NULL"), 0,
                       "a place in line is given by admission only")
        XCTAssertEqual(try claimNames(), ["free", "b1"])
        XCTAssertEqual(try unblocked(key: "b"), ["b1"])
    }
}
