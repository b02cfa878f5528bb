import BulkImport
import Foundation
import GrantQueue
import Postgres
import QueueHotPath
import QueueOperations
import XCTest

/// The producer contract (sql/009_producer_contract.sql): producers write only
/// their own columns, a new job starts as one nothing has happened to, every
/// value is bounded, and each refusal names its rule. Workers and the operator
/// commands are not hindered by any of it.
final class ProducerContractTests: RoleTestCase {
    private struct Attack {
        let what: String
        let sql: String
        let sqlState: String
        /// The constraint it must be refused by, or words its message must hold.
        let refusedBy: String
    }

    private static let forgedSuccess = """
        INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, state, attempts, finished_at, last_error_code)
        VALUES ('{ding1}', 'u1', 'succeeded', 1, now(), 'forged')
        """
    private static let poisonRow = """
        INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, state, locked_by, locked_until)
        VALUES ('{ding1}', 'u1', 'running', 'ghost', now() + interval '10 years')
        """
    private static let hugeCorpID = """
        INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id) VALUES (ARRAY[repeat('d', 1000000)], 'u1')
        """
    private static let topPriority = """
        INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, priority) VALUES ('{ding1}', 'u1', 32767)
        """

    /// Runs `attack`, prints one line saying how it ended (the quotable attack
    /// list), and fails unless it was refused as expected.
    private func attempt(_ attack: Attack, as who: String, on connection: PostgresConnection,
                         file: StaticString = #filePath, line: UInt = #line) {
        do {
            try connection.query(attack.sql)
            print("producer-contract: as \(who): \(attack.what): ACCEPTED")
            XCTFail("\(who): \(attack.what) was accepted", file: file, line: line)
        } catch let error as PostgresError {
            let name = error.constraint.map { "by \($0)" } ?? "with \"\(error.message)\""
            print("producer-contract: as \(who): \(attack.what): refused \(name) (SQLSTATE \(error.sqlState ?? "none"))")
            XCTAssertEqual(error.sqlState, attack.sqlState, "\(attack.what): \(error)", file: file, line: line)
            XCTAssertTrue((error.constraint ?? error.message).contains(attack.refusedBy), "\(attack.what): \(error)", file: file, line: line)
            XCTAssertTrue(error.message.contains(attack.refusedBy), "the message alone must name it: \(error.message)", file: file, line: line)
        } catch {
            XCTFail("\(attack.what): \(error)", file: file, line: line)
        }
    }

    func testTheAttackListIsRefusedByName() throws {
        let producer = try login(as: "visibility_producer")
        let permissionDenied = "permission denied for table visibility_grant_jobs"
        for attack in [
            Attack(what: "forged success in the audit trail", sql: Self.forgedSuccess, sqlState: "42501", refusedBy: permissionDenied),
            Attack(what: "poison row (running, leased to 'ghost' for 10 years)", sql: Self.poisonRow, sqlState: "42501",
                   refusedBy: permissionDenied),
            Attack(what: "a corp id of 1,000,000 characters", sql: Self.hugeCorpID, sqlState: "23514",
                   refusedBy: "to_corp_ids_entries_must_be_at_most_64_characters"),
            Attack(what: "priority 32767", sql: Self.topPriority, sqlState: "23514", refusedBy: "priority_must_be_minus_100_to_100"),
        ] {
            attempt(attack, as: "visibility_producer", on: producer)
        }

        // The guard behind the privileges: a role that may insert whole rows, here the table's owner.
        let ownerName = try createLogin(in: nil, named: "owner", grant: "ALTER TABLE visibility_grant_jobs OWNER TO {user}")
        let owner = try connect(as: ownerName)
        let insert = "INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, "
        for attack in [
            Attack(what: "forged success in the audit trail", sql: Self.forgedSuccess, sqlState: "23514", refusedBy: "new_jobs_must_start_pending"),
            Attack(what: "poison row (running, leased to 'ghost' for 10 years)", sql: Self.poisonRow, sqlState: "23514",
                   refusedBy: "new_jobs_must_start_pending"),
            Attack(what: "a pending row with 3 attempts", sql: insert + "attempts) VALUES ('{ding1}', 'u1', 3)", sqlState: "23514",
                   refusedBy: "new_jobs_must_start_with_0_attempts"),
            Attack(what: "a pending row leased to 'ghost'", sql: insert + "locked_by, locked_until) VALUES ('{ding1}', 'u1', 'ghost', now())",
                   sqlState: "23514", refusedBy: "new_jobs_must_start_without_a_lease"),
            Attack(what: "a pending row with an error code", sql: insert + "last_error_code) VALUES ('{ding1}', 'u1', 'forged')",
                   sqlState: "23514", refusedBy: "new_jobs_must_start_without_an_outcome"),
            Attack(what: "a pending row with finished_at", sql: insert + "finished_at) VALUES ('{ding1}', 'u1', now())",
                   sqlState: "23514", refusedBy: "new_jobs_must_start_without_an_outcome"),
            Attack(what: "a row backdated a year", sql: insert + "created_at, updated_at) VALUES ('{ding1}', 'u1', now() - interval '1 year', now() - interval '1 year')",
                   sqlState: "23514", refusedBy: "new_jobs_must_start_now"),
            Attack(what: "a corp id of 1,000,000 characters", sql: Self.hugeCorpID, sqlState: "23514",
                   refusedBy: "to_corp_ids_entries_must_be_at_most_64_characters"),
            Attack(what: "priority 32767", sql: Self.topPriority, sqlState: "23514", refusedBy: "priority_must_be_minus_100_to_100"),
        ] {
            attempt(attack, as: "the table's owner", on: owner)
        }
        XCTAssertEqual(try count(), 0, "nothing got in")

        // The owner's ordinary insert still works, and a superuser (operator repairs) may write any row.
        try owner.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id) VALUES ('{ding1}', 'u1')")
        try connection.query(Self.forgedSuccess)
        XCTAssertEqual(try count(), 2)
    }

    /// Each bound with its neighbours: just inside accepted, just outside refused by
    /// name, by the database (as a producer) and by `NewGrantJob.problems()` alike.
    func testEachBoundAcceptsItsLimitAndRefusesOneMore() throws {
        let producer = try login(as: "visibility_producer")
        let yearAhead = NewGrantJob.maxRunAtLead
        func job(_ change: (inout NewGrantJob) -> Void) -> NewGrantJob {
            var job = NewGrantJob(toCorpIds: ["ding1"], optUserId: "u1")
            change(&job)
            return job
        }
        let cases: [(what: String, inside: NewGrantJob, outside: NewGrantJob, constraint: String)] = [
            ("corp id length", job { $0.toCorpIds = ["ding1", String(repeating: "c", count: 64)] },
             job { $0.toCorpIds = ["ding1", String(repeating: "c", count: 65)] }, "to_corp_ids_entries_must_be_at_most_64_characters"),
            // Characters, not bytes: 64 three-byte characters fit.
            ("corp id length in characters", job { $0.toCorpIds = [String(repeating: "码", count: 64)] },
             job { $0.toCorpIds = [String(repeating: "码", count: 65)] }, "to_corp_ids_entries_must_be_at_most_64_characters"),
            ("opt_user_id length", job { $0.optUserId = String(repeating: "u", count: 128) },
             job { $0.optUserId = String(repeating: "u", count: 129) }, "opt_user_id_must_be_at_most_128_characters"),
            ("idempotency_key length", job { $0.idempotencyKey = String(repeating: "k", count: 256) },
             job { $0.idempotencyKey = String(repeating: "k", count: 257) }, "idempotency_key_must_be_at_most_256_characters"),
            ("ordering_key length", job { $0.orderingKey = String(repeating: "o", count: 256) },
             job { $0.orderingKey = String(repeating: "o", count: 257) }, "ordering_key_must_be_at_most_256_characters"),
            ("fields count", job { $0.fields = ["mobile", "status"] },
             job { $0.fields = ["mobile", "status", "mobile"] }, "fields_must_have_at_most_2_entries"),
            ("highest priority", job { $0.priority = 100 }, job { $0.priority = 101 }, "priority_must_be_minus_100_to_100"),
            ("lowest priority", job { $0.priority = -100 }, job { $0.priority = -101 }, "priority_must_be_minus_100_to_100"),
            ("run_at a year ahead", job { $0.runAt = Date().addingTimeInterval(yearAhead - 60) },
             job { $0.runAt = Date().addingTimeInterval(yearAhead + 60) }, "run_at_must_be_at_most_366_days_ahead"),
        ]
        let queue = GrantQueue(connection: producer)
        for (what, inside, outside, constraint) in cases {
            XCTAssertEqual(inside.problems(), [], what)
            XCTAssertNoThrow(try queue.enqueue(inside), what)
            let problems = outside.problems()
            XCTAssertEqual(problems.count, 1, "\(what): \(problems)")
            XCTAssertTrue(problems.first?.hasSuffix("[\(constraint)]") == true, "\(what): \(problems)")
            XCTAssertThrowsError(try queue.enqueue(outside), what) { error in
                XCTAssertEqual((error as? PostgresError)?.sqlState, "23514", "\(what): \(error)")
                XCTAssertEqual((error as? PostgresError)?.constraint, constraint, "\(what): \(error)")
            }
            print("producer-contract: bound \(what): limit accepted, one past refused by \(constraint)")
        }
        XCTAssertEqual(try count(), cases.count)
    }

    func testEnqueueFileNamesTheLineAndTheBoundItBreaks() throws {
        let long = String(repeating: "c", count: 65)
        let csv = """
            to_corp_ids,opt_user_id,priority,idempotency_key
            ding1,u1,100,k1
            ding2,u2,101,k2
            ding3|\(long),u3,0,k3
            ding4,u4,70000,k4
            """
        let result = try runWorker(["enqueue", "--file", "-", "--format", "csv"], environment: try databaseEnvironment(),
                                   stdin: Data(csv.utf8))
        XCTAssertNotEqual(result.status, 0)
        for expected in ["3 bad lines; nothing was inserted",
                         "line 3: priority must be -100 to 100 (got 101) [priority_must_be_minus_100_to_100]",
                         "line 4: to_corp_ids entries must be at most 64 characters (the longest has 65) [to_corp_ids_entries_must_be_at_most_64_characters]",
                         "line 5: priority must be -100 to 100 (got 70000) [priority_must_be_minus_100_to_100]"] {
            XCTAssertTrue(result.stderr.contains(expected), "\(expected) in:\n\(result.stderr)")
        }
        XCTAssertEqual(try count(), 0)
    }

    /// The contract binds producers, not the workers or the operator commands.
    func testWorkersAndOperatorCommandsStillWorkAsTheWorkerRole() throws {
        let producerName = try createLogin(in: "visibility_producer")
        let asProducer = try databaseEnvironment(as: producerName)
        let one = try runWorker(["enqueue", "--corp-id", "ding1", "--opt-user-id", "u1", "--priority", "100",
                                 "--idempotency-key", "k1"], environment: asProducer)
        XCTAssertEqual(one.status, 0, one.stderr)
        let lines = (2...12).map { #"{"to_corp_ids":["ding\#($0)"],"opt_user_id":"u\#($0)","idempotency_key":"k\#($0)"}"# }
        let many = try runWorker(["enqueue", "--file", "-", "--format", "jsonl"], environment: asProducer,
                                 stdin: Data(lines.joined(separator: "\n").utf8))
        XCTAssertEqual(many.status, 0, many.stderr)
        XCTAssertEqual(try count(), 12, "enqueue and enqueue --file work with the producer's column privileges")

        let worker = try connect(as: try createLogin(in: "visibility_worker"))
        let queue = GrantQueue(connection: worker)
        let claimed = try queue.claim(workerID: "w", limit: 4, lease: .seconds(30))
        XCTAssertEqual(claimed.count, 4)
        let outcomes = claimed.enumerated().map { index, job in
            GrantJobOutcome(jobID: job.id, attempt: job.attempt, disposition: index < 2 ? .succeeded : .failed,
                            startedAt: Date(), httpStatus: index < 2 ? 200 : 400, errorCode: index < 2 ? nil : "invalid.param")
        }
        XCTAssertEqual(try queue.complete(outcomes, workerID: "w").count, 4)
        try connection.query("UPDATE visibility_grant_jobs SET finished_at = now() - interval '2 days' WHERE state = 'succeeded'")

        let asWorker = try databaseEnvironment(as: try createLogin(in: "visibility_worker", named: "operator"))
        let retry = try runWorker(["retry", "--code", "invalid.param"], environment: asWorker)
        XCTAssertEqual(retry.status, 0, retry.stderr)
        XCTAssertTrue(retry.stdout.hasPrefix("retried 2 failed jobs"), retry.stdout)
        let cancel = try runWorker(["cancel", "--idempotency-key", "k12"], environment: asWorker)
        XCTAssertEqual(cancel.status, 0, cancel.stderr)
        XCTAssertTrue(cancel.stdout.hasPrefix("cancelled 1 pending job"), cancel.stdout)
        let prune = try runWorker(["prune", "--older-than", "1d"], environment: asWorker)
        XCTAssertEqual(prune.status, 0, prune.stderr)
        XCTAssertTrue(prune.stdout.hasPrefix("deleted 2 finished jobs"), prune.stdout)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'pending'"), 9)
        print("producer-contract: as visibility_worker: claim, complete, retry, cancel and prune all work")
    }
}
