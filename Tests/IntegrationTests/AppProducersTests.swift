import Foundation
@testable import GrantQueue
import Postgres
@testable import QueueHotPath
@testable import QueueOperations
import XCTest

/// Producer logins confined to apps (sql/013_app_producers.sql): across the line
/// every verb is refused or sees nothing, within it everything works; unmapped
/// producers, workers and the operator commands see every app as before.
final class AppProducersTests: RoleTestCase {
    private static let apps = ["acme", "beta"]

    override func setUpWithError() throws {
        try super.setUpWithError()
        try connection.query("INSERT INTO visibility_apps (name, app_key) VALUES ('acme', 'key-acme'), ('beta', 'key-beta')")
        // acme: 3 jobs, beta: 2, default: 1; one attempt row each.
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, app, idempotency_key)
            SELECT ARRAY['ding' || g], 'u' || g, app, app || '-' || g
            FROM (VALUES ('acme', 1), ('acme', 2), ('acme', 3), ('beta', 4), ('beta', 5), ('default', 6)) AS v(app, g)
            """)
        try connection.query("""
            INSERT INTO visibility_grant_attempts (job_id, attempt, worker_id, started_at, outcome)
            SELECT id, 1, 'w', now(), 'retry' FROM visibility_grant_jobs
            """)
    }

    /// A producer login confined to `app` by the schema owner, connected.
    private func confinedProducer(to app: String) throws -> (name: String, connection: PostgresConnection) {
        let name = try createLogin(in: "visibility_producer", named: "\(app)_producer")
        XCTAssertTrue(try GrantQueue(connection: connection).grantApp(app, toProducer: name))
        return (name, try connect(as: name))
    }

    private func count(_ sql: String, on connection: PostgresConnection) throws -> Int {
        try XCTUnwrap(connection.query(sql).first).decode(0, as: Int.self)
    }

    /// Runs `sql` as `who`, prints one line of the attack list, and fails unless it was refused with `sqlState`.
    private func expectRefusal(_ what: String, _ sql: String, as who: String, on connection: PostgresConnection,
                               sqlState: String, saying words: String, line: UInt = #line) {
        do {
            try connection.query(sql)
            print("producer-contract: as \(who): \(what): ACCEPTED")
            XCTFail("\(who): \(what) was accepted", line: line)
        } catch let error as PostgresError {
            print("producer-contract: as \(who): \(what): refused with \"\(error.message)\" (SQLSTATE \(error.sqlState ?? "none"))")
            XCTAssertEqual(error.sqlState, sqlState, "\(what): \(error)", line: line)
            XCTAssertTrue(error.message.contains(words), "\(what): \(error.message)", line: line)
        } catch {
            XCTFail("\(what): \(error)", line: line)
        }
    }

    /// Runs a read as `who`, prints what it saw, and fails unless it saw `expected` rows.
    private func expectToSee(_ expected: Int, _ what: String, _ sql: String, as who: String, on connection: PostgresConnection,
                             line: UInt = #line) throws {
        let seen = try count(sql, on: connection)
        print("producer-contract: as \(who): \(what): sees \(seen) row(s)")
        XCTAssertEqual(seen, expected, "\(who): \(what)", line: line)
    }

    func testTwoConfinedProducersCannotCrossTheLineInAnyVerb() throws {
        let total = try count()
        for (app, other) in [("acme", "beta"), ("beta", "acme")] {
            let producer = try confinedProducer(to: app).connection
            let who = "\(app)'s confined producer"
            let own = try count("SELECT count(*) FROM visibility_grant_jobs WHERE app = $1", [app])
            let otherIDs = "(SELECT id FROM visibility_grant_jobs WHERE app = '\(other)')"

            // Across the line.
            try expectToSee(0, "SELECT \(other)'s jobs", "SELECT count(*) FROM visibility_grant_jobs WHERE app = '\(other)'",
                            as: who, on: producer)
            try expectToSee(0, "SELECT \(other)'s jobs by id",
                            "SELECT count(*) FROM visibility_grant_jobs WHERE id IN (SELECT id FROM visibility_grant_jobs WHERE app <> '\(app)')",
                            as: who, on: producer)
            try expectToSee(0, "SELECT \(other)'s and default's attempts",
                            "SELECT count(*) FROM visibility_grant_attempts AS a JOIN visibility_grant_jobs AS j ON j.id = a.job_id WHERE j.app <> '\(app)'",
                            as: who, on: producer)
            try expectToSee(0, "SELECT attempts by the ids of \(other)'s jobs",
                            "SELECT count(*) FROM visibility_grant_attempts WHERE job_id NOT IN (SELECT id FROM visibility_grant_jobs WHERE app = '\(app)')",
                            as: who, on: producer)
            try expectToSee(0, "SELECT \(other)'s row of visibility_apps", "SELECT count(*) FROM visibility_apps WHERE name = '\(other)'",
                            as: who, on: producer)
            expectRefusal("INSERT a job into \(other)",
                          "INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, app) VALUES ('{ding9}', 'u9', '\(other)')",
                          as: who, on: producer, sqlState: "42501",
                          saying: "violates row-level security policy \"producers_confined_to_their_apps\"")
            expectRefusal("INSERT a job into default",
                          "INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id) VALUES ('{ding9}', 'u9')",
                          as: who, on: producer, sqlState: "42501", saying: "producers_confined_to_their_apps")
            expectRefusal("UPDATE \(other)'s jobs to cancelled",
                          "UPDATE visibility_grant_jobs SET state = 'cancelled' WHERE app = '\(other)'",
                          as: who, on: producer, sqlState: "42501", saying: "permission denied for table visibility_grant_jobs")
            expectRefusal("UPDATE a job to move it into \(other)", "UPDATE visibility_grant_jobs SET app = '\(other)'",
                          as: who, on: producer, sqlState: "42501", saying: "permission denied for table visibility_grant_jobs")
            expectRefusal("DELETE \(other)'s jobs", "DELETE FROM visibility_grant_jobs WHERE id IN \(otherIDs)",
                          as: who, on: producer, sqlState: "42501", saying: "permission denied for table visibility_grant_jobs")
            expectRefusal("DELETE \(other)'s attempts", "DELETE FROM visibility_grant_attempts",
                          as: who, on: producer, sqlState: "42501", saying: "permission denied for table visibility_grant_attempts")
            expectRefusal("read the mapping of other producers", "SELECT count(*) FROM visibility_app_producers",
                          as: who, on: producer, sqlState: "42501", saying: "permission denied for table visibility_app_producers")
            try producer.query("SET ROLE visibility_producer")
            try expectToSee(0, "SET ROLE visibility_producer, then SELECT \(other)'s jobs",
                            "SELECT count(*) FROM visibility_grant_jobs WHERE app = '\(other)'", as: who, on: producer)
            try producer.query("RESET ROLE")

            // Within it.
            try expectToSee(own, "SELECT its own jobs", "SELECT count(*) FROM visibility_grant_jobs", as: who, on: producer)
            try expectToSee(own, "SELECT its own attempts", "SELECT count(*) FROM visibility_grant_attempts", as: who, on: producer)
            try expectToSee(1, "SELECT visibility_apps", "SELECT count(*) FROM visibility_apps", as: who, on: producer)
            let inserted = try producer.query("""
                INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, app) VALUES ('{ding9}', 'u9', $1) RETURNING id
                """, [app])
            XCTAssertEqual(inserted.count, 1, "\(who) inserts into its own app and reads the row back")
            print("producer-contract: as \(who): INSERT a job into \(app) (its own): accepted")
            try expectToSee(own + 1, "SELECT its own jobs after inserting", "SELECT count(*) FROM visibility_grant_jobs",
                            as: who, on: producer)

            // An idempotency key is one namespace for all apps: another app's key is a conflict it cannot read.
            let otherKey = "\(other)-\(other == "acme" ? 1 : 4)"
            XCTAssertEqual(try producer.query("""
                INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, app, idempotency_key) VALUES ('{ding9}', 'u9', $1, $2)
                ON CONFLICT (idempotency_key) DO NOTHING RETURNING id
                """, [app, otherKey]).count, 0)
            print("producer-contract: as \(who): INSERT with \(other)'s idempotency key, ON CONFLICT DO NOTHING: inserts nothing, reads nothing")
        }
        XCTAssertEqual(try count(), total + 2, "the owner sees every job: one more in each app")
    }

    func testUnconfinedProducersWorkersAndOperatorCommandsSeeEveryApp() throws {
        _ = try confinedProducer(to: "acme")  // confining one login changes nothing for the others
        let total = try count()
        let unmapped = try login(as: "visibility_producer")
        let who = "an unconfined producer"
        try expectToSee(total, "SELECT every app's jobs", "SELECT count(*) FROM visibility_grant_jobs", as: who, on: unmapped)
        try expectToSee(total, "SELECT every app's attempts", "SELECT count(*) FROM visibility_grant_attempts", as: who, on: unmapped)
        try expectToSee(3, "SELECT visibility_apps", "SELECT count(*) FROM visibility_apps", as: who, on: unmapped)
        for app in Self.apps + ["default"] {
            XCTAssertEqual(try unmapped.query("""
                INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, app) VALUES ('{ding9}', 'u9', $1) RETURNING id
                """, [app]).count, 1, app)
        }
        print("producer-contract: as \(who): INSERT a job into acme, beta and default: accepted")

        // A login in both roles is a worker: it must see every job to claim it, even if someone mapped it.
        let both = try createLogin(in: "visibility_worker", named: "both", grant: "GRANT visibility_producer TO {user}")
        try connection.query("INSERT INTO visibility_app_producers (app, role) VALUES ('acme', $1)", [both])
        try expectToSee(total + 3, "SELECT every app's jobs", "SELECT count(*) FROM visibility_grant_jobs",
                        as: "a login in visibility_worker and visibility_producer, mapped to acme", on: try connect(as: both))

        let workerName = try createLogin(in: "visibility_worker")
        let worker = try connect(as: workerName)
        try expectToSee(total + 3, "SELECT every app's jobs", "SELECT count(*) FROM visibility_grant_jobs", as: "visibility_worker", on: worker)
        let queue = GrantQueue(connection: worker)
        var claimed: [ClaimedGrantJob] = []
        for app in Self.apps { claimed += try queue.claim(workerID: "w", limit: 10, lease: .seconds(30), app: app) }
        XCTAssertEqual(Set(claimed.map(\.app)), Set(Self.apps))
        XCTAssertEqual(try queue.complete(claimed.map {
            GrantJobOutcome(jobID: $0.id, attempt: $0.attempt, disposition: .failed, startedAt: Date(), httpStatus: 400,
                            errorCode: "invalid.param")
        }, workerID: "w").count, claimed.count)

        let asWorker = try databaseEnvironment(as: workerName)
        let retry = try runWorker(["retry", "--code", "invalid.param"], environment: asWorker)
        XCTAssertEqual(retry.status, 0, retry.stderr)
        XCTAssertTrue(retry.stdout.hasPrefix("retried \(claimed.count) failed jobs"), retry.stdout)
        for key in ["acme-1", "beta-4"] {
            let cancel = try runWorker(["cancel", "--idempotency-key", key], environment: asWorker)
            XCTAssertEqual(cancel.status, 0, cancel.stderr)
            XCTAssertTrue(cancel.stdout.hasPrefix("cancelled 1 pending job"), cancel.stdout)
        }
        try connection.query("UPDATE visibility_grant_jobs SET finished_at = now() - interval '2 days' WHERE state = 'cancelled'")
        let prune = try runWorker(["prune", "--older-than", "1d"], environment: asWorker)
        XCTAssertEqual(prune.status, 0, prune.stderr)
        XCTAssertTrue(prune.stdout.hasPrefix("deleted 2 finished jobs"), prune.stdout)
        print("producer-contract: as visibility_worker: claim and complete in acme and beta, retry, cancel and prune all work")
    }

    /// Row-level security costs the workers nothing: their statements plan exactly as the (exempt) owner's do.
    func testWorkerStatementsPlanAsTheOwnersDo() throws {
        try insertJobs(3000)
        try connection.query("UPDATE visibility_grant_jobs SET state = 'succeeded', finished_at = now() WHERE id % 40 <> 0")
        try connection.query("ANALYZE visibility_grant_jobs")
        let worker = try connect(as: try createLogin(in: "visibility_worker"))
        let producer = try confinedProducer(to: "acme").connection
        let statements: [(String, [any PostgresEncodable])] = [
            (GrantQueue.claimBatch.sql, GrantQueue.claimParameters(workerID: "w", limit: 10, lease: .seconds(30))),
            ("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded' AND finished_at < now() - interval '1 day'", []),
            ("SELECT a.* FROM visibility_grant_attempts AS a JOIN visibility_grant_jobs AS j ON j.id = a.job_id WHERE j.app = 'acme'", []),
        ]
        for (sql, parameters) in statements {
            func plan(on connection: PostgresConnection) throws -> String {
                try connection.query("EXPLAIN (COSTS OFF) " + sql, parameters).map { try $0.decode(0, as: String.self) }.joined(separator: "\n")
            }
            let asOwner = try plan(on: connection)
            XCTAssertEqual(try plan(on: worker), asOwner)
        }
        // The comparison can tell: a confined producer's read plans its confinement (looked up once, in InitPlans).
        let (read, _) = statements[1]
        let asProducer = try producer.query("EXPLAIN (COSTS OFF) " + read).map { try $0.decode(0, as: String.self) }.joined(separator: "\n")
        XCTAssertTrue(asProducer.contains("InitPlan"), asProducer)
        XCTAssertNotEqual(asProducer, try connection.query("EXPLAIN (COSTS OFF) " + read).map { try $0.decode(0, as: String.self) }.joined(separator: "\n"))
    }

    func testAppsGrantAndRevokeThroughTheBinary() throws {
        let owner = try databaseEnvironment()
        let producer = try createLogin(in: "visibility_producer", named: "hr_sync")
        func run(_ arguments: [String], as environment: [String: String]? = nil) throws -> ProcessResult {
            try runWorker(["apps"] + arguments, environment: environment ?? owner)
        }

        let granted = try run(["grant", "acme", producer])
        XCTAssertEqual(granted.status, 0, granted.stderr)
        XCTAssertEqual(granted.stdout, "role \(producer) confined to app acme\n")
        let again = try run(["grant", "acme", producer])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(again.stdout, "role \(producer) was confined to app acme already\n")
        XCTAssertEqual(try run(["grant", "beta", producer]).status, 0)
        let listed = try run(["list"])
        XCTAssertTrue(listed.stdout.contains("PRODUCERS of acme (confined to it): \(producer)"), listed.stdout)
        let json = try JSONDecoder().decode([GrantApp].self, from: Data(try run(["list", "--json"]).stdout.utf8))
        XCTAssertEqual(json.first { $0.name == "beta" }?.producerRoles, [producer])
        XCTAssertEqual(json.first { $0.name == "default" }?.producerRoles, [])

        // As the confined producer: its own apps only, and no mapping (it may not read it).
        let asProducer = try databaseEnvironment(as: producer)
        let producerList = try JSONDecoder().decode([GrantApp].self, from: Data(try run(["list", "--json"], as: asProducer).stdout.utf8))
        XCTAssertEqual(producerList.map(\.name), ["acme", "beta"])
        XCTAssertEqual(producerList.map(\.producerRoles), [nil, nil])

        let worker = try createLogin(in: "visibility_worker")
        let plain = try createLogin(in: nil, named: "plain")
        let group = try createLogin(in: "visibility_producer", named: "group", grant: "ALTER ROLE {user} NOLOGIN")
        let refusals: [(arguments: [String], environment: [String: String]?, message: String)] = [
            (["grant", "acme", producer], try databaseEnvironment(as: worker),
             "only the schema owner may change which apps a producer is confined to"),
            (["grant", "nosuch", producer], nil, "no app named 'nosuch'"),
            (["grant", "acme", "nosuch_role"], nil, "no role named 'nosuch_role'"),
            (["grant", "acme", plain], nil, "role '\(plain)' is not a member of visibility_producer"),
            (["grant", "acme", worker], nil, "role '\(worker)' is a member of visibility_worker"),
            (["grant", "acme", group], nil, "role '\(group)' cannot log in"),
            (["revoke", "default", producer], nil, "role '\(producer)' is not confined to app 'default' (its apps: acme, beta)"),
            (["revoke", "acme", plain], nil, "role '\(plain)' is not confined to app 'acme' (it is confined to no app)"),
            (["remove", "acme"], nil, "producer role(s) \(producer) are confined to the app 'acme': revoke them first"),
        ]
        try connection.query("DELETE FROM visibility_grant_attempts")
        try connection.query("DELETE FROM visibility_grant_jobs")  // so that `remove` meets only the mapping
        for refusal in refusals {
            let result = try run(refusal.arguments, as: refusal.environment)
            XCTAssertNotEqual(result.status, 0, "\(refusal.arguments)")
            XCTAssertTrue(result.stderr.contains(refusal.message), "\(refusal.arguments): \(result.stderr)")
            print("producer-contract: apps \(refusal.arguments.joined(separator: " ")): refused: \(refusal.message)")
        }

        let revoked = try run(["revoke", "acme", producer])
        XCTAssertEqual(revoked.status, 0, revoked.stderr)
        XCTAssertEqual(revoked.stdout, "role \(producer) no longer confined to app acme\nrole \(producer) is still confined to: beta\n")
        let last = try run(["revoke", "beta", producer])
        XCTAssertEqual(last.status, 0, last.stderr)
        XCTAssertTrue(last.stderr.contains("warning: role \(producer) is confined to no app now: it sees and inserts every app's jobs again"),
                      last.stderr)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_app_producers"), 0)
        XCTAssertEqual(try run(["remove", "acme"]).status, 0, "with the mapping gone, the app can go")
    }
}
