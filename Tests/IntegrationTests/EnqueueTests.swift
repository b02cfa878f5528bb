import BulkImport
import Foundation
import GrantQueue
import Postgres
import QueueOperations
import XCTest

final class EnqueueTests: DatabaseTestCase {

    func testEnqueueOneHonoursTheIdempotencyKey() throws {
        let queue = GrantQueue(connection: connection)
        let job = NewGrantJob(toCorpIds: ["ding1", "ding,2"], optUserId: "u1", fields: ["status"], idempotencyKey: "k1", priority: 3)
        guard case .inserted(let id) = try queue.enqueue(job) else { return XCTFail("not inserted") }
        XCTAssertEqual(try queue.enqueue(job), .duplicate(existingID: id))
        let row = try XCTUnwrap(connection.query("SELECT to_corp_ids, fields, priority FROM visibility_grant_jobs WHERE id = $1", [id]).first)
        XCTAssertEqual(try row.decode(0, as: [String].self), ["ding1", "ding,2"])
        XCTAssertEqual(try row.decode(1, as: [String].self), ["status"])
        XCTAssertEqual(try row.decode(2, as: Int.self), 3)
    }

    func testBulkEnqueueSkipsTakenKeysAndKeepsEveryValue() throws {
        let queue = GrantQueue(connection: connection)
        _ = try queue.enqueue(NewGrantJob(toCorpIds: ["d0"], optUserId: "u", idempotencyKey: "taken"))
        // Whole seconds, a month ahead (run_at may be at most 366 days ahead).
        let runAt = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 30 * 86_400).rounded(.down))
        let jobs = [
            NewGrantJob(toCorpIds: ["d1", "tab\there"], optUserId: "u\\1", fields: ["mobile", "status"], idempotencyKey: "new",
                        orderingKey: "d1", priority: -2, runAt: runAt, maxAttempts: 4),
            NewGrantJob(toCorpIds: ["d2"], optUserId: "u2", idempotencyKey: "taken"),
            NewGrantJob(toCorpIds: ["d3"], optUserId: "u3", idempotencyKey: "new"),
            NewGrantJob(toCorpIds: ["d4"], optUserId: "u4"),
        ]
        let result = try queue.enqueue(contentsOf: jobs)
        XCTAssertEqual(result, BulkEnqueueResult(submitted: 4, inserted: 2, repeatedKeys: [RepeatedKey(line: 3, firstLine: 1)],
                                                 repeatedKeyCount: 1))
        XCTAssertEqual(result.duplicates, 2)
        let row = try XCTUnwrap(connection.query("""
            SELECT to_corp_ids, opt_user_id, fields, ordering_key, priority, run_at, max_attempts
            FROM visibility_grant_jobs WHERE idempotency_key = 'new'
            """).first)
        XCTAssertEqual(try row.decode(0, as: [String].self), ["d1", "tab\there"])
        XCTAssertEqual(try row.decode(1, as: String.self), "u\\1")
        XCTAssertEqual(try row.decode(2, as: [String].self), ["mobile", "status"])
        XCTAssertEqual(try row.decode(3, as: String?.self), "d1")
        XCTAssertEqual(try row.decode(4, as: Int.self), -2)
        XCTAssertEqual(try row.decode(5, as: Date.self), runAt)
        XCTAssertEqual(try row.decode(6, as: Int.self), 4)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE opt_user_id = 'u4' AND max_attempts = 10 AND run_at <= now()"), 1)
    }

    /// A load of several chunks: ids follow the input's order across chunks, a key
    /// repeated chunks apart is named, and a NUL byte is a bad line, by number.
    func testBulkEnqueueAcrossChunksKeepsInputOrderAndFindsRepeatedKeys() throws {
        let queue = GrantQueue(connection: connection)
        var jobs = (1...25_000).map { NewGrantJob(toCorpIds: ["ding\($0)"], optUserId: "u\($0)", idempotencyKey: "k\($0)", orderingKey: "one-key") }
        jobs[23_999].idempotencyKey = "k5"
        var seen: [Int] = []
        let result = try queue.enqueue(contentsOf: jobs) { seen.append($0) }
        XCTAssertEqual(result.inserted, 24_999)
        XCTAssertEqual(result.repeatedKeys, [RepeatedKey(line: 24_000, firstLine: 5)])
        XCTAssertEqual(seen.first, 0)
        XCTAssertEqual(seen.last, 25_000)
        XCTAssertGreaterThan(seen.count, 3, "progress every chunk")
        let outOfOrder = try count("""
            SELECT count(*) FROM (SELECT opt_user_id, lag(opt_user_id) OVER (ORDER BY id) AS previous FROM visibility_grant_jobs) AS o
            WHERE substr(opt_user_id, 2)::int < substr(previous, 2)::int
            """)
        XCTAssertEqual(outOfOrder, 0, "ids follow the input's order")

        jobs[20_000].optUserId = "nul\u{0}here"
        XCTAssertThrowsError(try queue.enqueue(contentsOf: jobs)) { error in
            XCTAssertTrue("\(error)".contains("line 20001: contains a NUL byte"), "\(error)")
        }
        XCTAssertEqual(try count(), 24_999, "the failed load left nothing behind")
    }

    func testCLIEnqueuesOneJobFromFlags() throws {
        let environment = try databaseEnvironment()
        let result = try runWorker(["enqueue", "--corp-id", "ding1", "--corp-id", "ding2", "--opt-user-id", "u1",
                                    "--field", "mobile", "--idempotency-key", "cli-1"], environment: environment)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, "enqueued job 1\n")
        let again = try runWorker(["enqueue", "--corp-id", "ding1", "--opt-user-id", "u1", "--idempotency-key", "cli-1"],
                                  environment: environment)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("job 1 already has this idempotency key"), again.stdout)
        let bad = try runWorker(["enqueue", "--corp-id", "ding1", "--opt-user-id", "u1", "--field", "email"], environment: environment)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("fields_must_be_mobile_or_status"), bad.stderr)
        XCTAssertEqual(try count(), 1)
    }

    func testCLIFileWithABadLineInsertsNothingAndNamesTheLine() throws {
        let environment = try databaseEnvironment()
        var lines = (1...50).map { #"{"to_corp_ids":["ding\#($0)"],"opt_user_id":"u\#($0)"}"# }
        lines[36] = #"{"to_corp_ids":["ding37"],"opt_user_id":""}"#
        let result = try runWorker(["enqueue", "--file", "-", "--format", "jsonl"], environment: environment,
                                   stdin: Data(lines.joined(separator: "\n").utf8))
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("line 37:"), result.stderr)
        XCTAssertTrue(result.stderr.contains("opt_user_id_must_not_be_blank"), result.stderr)
        XCTAssertEqual(try count(), 0)
    }

    func testCLIFileReportsEveryBadLineUpToTheLimitThenTheCount() throws {
        var lines = (1...30).map { #"{"to_corp_ids":["ding\#($0)"],"opt_user_id":"u\#($0)"}"# }
        lines[3] = #"{"to_corp_ids":[],"opt_user_id":"u4"}"#
        lines[9] = "not json"
        lines[19] = #"{"to_corp_ids":["ding20"],"opt_user_id":"u20","colour":"red"}"#
        lines[28] = #"{"to_corp_ids":["ding29"],"opt_user_id":"u29","fields":["email"]}"#
        let input = Data(lines.joined(separator: "\n").utf8)
        let all = try runWorker(["enqueue", "--file", "-", "--format", "jsonl"], environment: try databaseEnvironment(), stdin: input)
        XCTAssertNotEqual(all.status, 0)
        for expected in ["4 bad lines; nothing was inserted", "line 4: to_corp_ids must have 1 to 100 entries", "line 10: not a JSON object",
                         "line 20: unknown key colour", "line 29: fields may only hold mobile and status"] {
            XCTAssertTrue(all.stderr.contains(expected), "missing \(expected):\n\(all.stderr)")
        }
        let limited = try runWorker(["enqueue", "--file", "-", "--format", "jsonl", "--max-errors", "2"],
                                    environment: try databaseEnvironment(), stdin: input)
        XCTAssertTrue(limited.stderr.contains("line 10: not a JSON object"), limited.stderr)
        XCTAssertFalse(limited.stderr.contains("line 20:"), limited.stderr)
        XCTAssertTrue(limited.stderr.contains("… and 2 more"), limited.stderr)
        XCTAssertEqual(try count(), 0)
    }

    /// Jobs name their app from a flag or a file column; an app the table does not
    /// have is refused by name, for a file by line, and nothing goes in.
    func testCLIEnqueuesIntoANamedAppAndRefusesAnUnknownOne() throws {
        let environment = try databaseEnvironment()
        try connection.query("INSERT INTO visibility_apps (name, app_key) VALUES ('org-b', 'key-b')")
        let one = try runWorker(["enqueue", "--corp-id", "ding1", "--opt-user-id", "u1", "--app", "org-b"], environment: environment)
        XCTAssertEqual(one.status, 0, one.stderr)
        let unknown = try runWorker(["enqueue", "--corp-id", "ding1", "--opt-user-id", "u1", "--app", "org-typo"], environment: environment)
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("app_must_name_a_row_of_visibility_apps"), unknown.stderr)

        let lines = [
            #"{"to_corp_ids":["ding2"],"opt_user_id":"u2","app":"org-b"}"#,
            #"{"to_corp_ids":["ding3"],"opt_user_id":"u3"}"#,
            #"{"to_corp_ids":["ding4"],"opt_user_id":"u4","app":"org-typo"}"#,
            #"{"to_corp_ids":["ding5"],"opt_user_id":"u5","app":"org-typo"}"#,
        ]
        let bad = try runWorker(["enqueue", "--file", "-", "--format", "jsonl"], environment: environment,
                                stdin: Data(lines.joined(separator: "\n").utf8))
        XCTAssertNotEqual(bad.status, 0)
        for expected in ["2 bad lines; nothing was inserted", #"line 3: app "org-typo" is not in visibility_apps"#, "line 4:",
                         "app_must_name_a_row_of_visibility_apps"] {
            XCTAssertTrue(bad.stderr.contains(expected), "missing \(expected):\n\(bad.stderr)")
        }
        let good = try runWorker(["enqueue", "--file", "-", "--format", "csv"], environment: environment,
                                 stdin: Data("to_corp_ids,opt_user_id,app\nding6,u6,org-b\nding7,u7,\n".utf8))
        XCTAssertEqual(good.status, 0, good.stderr)
        let apps = try connection.query("SELECT opt_user_id || '=' || app FROM visibility_grant_jobs ORDER BY id")
            .map { try $0.decode(0, as: String.self) }
        XCTAssertEqual(apps, ["u1=org-b", "u6=org-b", "u7=default"])
    }

    func testCLIFileLoadsCSVInOneStatement() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("grants.csv")
        let rows = (1...2000).map { "ding\($0)|dingX,user\($0),mobile|status,key-\($0 % 1500)" }
        try ("to_corp_ids,opt_user_id,fields,idempotency_key\n" + rows.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)

        let listener = try database.connect()
        try listener.listen(GrantQueue.notificationChannel)
        let result = try runWorker(["enqueue", "--file", file.path], environment: try databaseEnvironment())
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.hasPrefix("enqueued 1500 of 2000 jobs (500 duplicate"), result.stdout)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE cardinality(to_corp_ids) = 2 AND fields = '{mobile,status}'"), 1500)
        XCTAssertEqual(try listener.waitForNotifications(timeout: .seconds(2)).count, 1)
        // Lines repeating a key of the file are listed (the first 100), then counted.
        let report = result.stderr.split(separator: "\n")
        XCTAssertEqual(report.first, "line 1502: idempotency_key repeats line 2's; skipped", "line 1 is the header:\n\(result.stderr)")
        XCTAssertEqual(report.count, 101, result.stderr)
        XCTAssertEqual(report.last, "… and 400 more lines repeating a key")
        XCTAssertFalse(result.stderr.contains("enqueue:"), "no progress line when standard error is not a terminal")
    }

    /// On a terminal (a pseudo-terminal from util-linux `script`), `enqueue --file` shows its progress.
    func testCLIFileShowsProgressOnATerminal() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("vw-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: file) }
        let lines = (1...20_000).map { #"{"to_corp_ids":["ding\#($0)"],"opt_user_id":"u\#($0)"}"# }
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        let command = "'\(try TestEnvironment.workerBinary())' enqueue --file '\(file.path)'"
        let process = try ChildProcess(executable: "/usr/bin/script", arguments: ["-qec", command, "/dev/null"],
                                       environment: try databaseEnvironment(), stdin: nil)
        let result = try process.wait(timeout: .seconds(60))
        XCTAssertEqual(result.status, 0, result.stdout)
        XCTAssertTrue(result.stdout.contains("enqueue: 0 rows"), "no progress line:\n\(result.stdout)")
        XCTAssertTrue(result.stdout.contains("enqueued 20000 of 20000 jobs"), result.stdout)
        XCTAssertEqual(try count(), 20_000)
    }
}
