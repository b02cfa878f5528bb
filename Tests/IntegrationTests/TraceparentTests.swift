import Foundation
import GrantQueue
import Postgres
import QueueHotPath
import XCTest

/// A producer's W3C trace context rides on its job (sql/021): refused by name when
/// malformed, accepted from the CLI's flag and from a file's column, and handed
/// to the worker with each claim (its attempt spans continue the producer's trace;
/// scripts/trace-check follows them to an OTLP receiver).
final class TraceparentTests: DatabaseTestCase {
    private let good = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    func testTheTableRefusesAMalformedTraceparentByName() throws {
        let bad = [
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",  // uppercase
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",  // all-zero trace id
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  // all-zero parent id
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  // not version 00
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",     // no flags
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-", // trailing part
            "",
        ]
        for value in bad {
            XCTAssertFalse(NewGrantJob.isW3CTraceparent(value), value)
            XCTAssertThrowsError(try connection.query(
                "INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, traceparent) VALUES ('{d}', 'u', $1)", [value]), value
            ) { error in
                XCTAssertEqual((error as? PostgresError)?.constraint, "traceparent_must_be_w3c", "\(value): \(error)")
            }
        }
        XCTAssertTrue(NewGrantJob.isW3CTraceparent(good))
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, traceparent) VALUES ('{d}', 'u', $1)", [good])
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id) VALUES ('{d}', 'without')")
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE traceparent IS NULL"), 1, "the column is optional")
    }

    func testEnqueueTakesATraceparentAsAFlagAndAsAFileColumn() async throws {
        let environment = try databaseEnvironment()
        let one = try await runWorker(["enqueue", "--corp-id", "ding1", "--opt-user-id", "flag", "--traceparent", good],
                                      environment: environment)
        XCTAssertEqual(one.status, 0, one.stderr)
        let refused = try await runWorker(["enqueue", "--corp-id", "ding1", "--opt-user-id", "bad", "--traceparent", "00-abc-def-01"],
                                          environment: environment)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("traceparent_must_be_w3c"), refused.stderr)

        let other = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let csv = "to_corp_ids,opt_user_id,traceparent\nding1,csv-with,\(other)\nding1,csv-without,\n"
        let fromCSV = try await runWorker(["enqueue", "--file", "-", "--format", "csv"], environment: environment, stdin: Data(csv.utf8))
        XCTAssertEqual(fromCSV.status, 0, fromCSV.stderr)
        let jsonl = #"{"to_corp_ids":["ding1"],"opt_user_id":"jsonl","traceparent":"\#(good)"}"# + "\n"
        let fromJSONL = try await runWorker(["enqueue", "--file", "-", "--format", "jsonl"], environment: environment, stdin: Data(jsonl.utf8))
        XCTAssertEqual(fromJSONL.status, 0, fromJSONL.stderr)
        let stored = Dictionary(uniqueKeysWithValues: try connection.query(
            "SELECT opt_user_id, coalesce(traceparent, '-') FROM visibility_grant_jobs").map {
            (try $0.decode(0, as: String.self), try $0.decode(1, as: String.self))
        })
        XCTAssertEqual(stored, ["flag": good, "csv-with": other, "csv-without": "-", "jsonl": good])

        // A bad value in a file is reported by line, and nothing goes in.
        let badFile = "to_corp_ids,opt_user_id,traceparent\nding1,fine,\(other)\nding1,broken,00-XYZ-01\n"
        let bad = try await runWorker(["enqueue", "--file", "-", "--format", "csv"], environment: environment, stdin: Data(badFile.utf8))
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("line 3") && bad.stderr.contains("traceparent_must_be_w3c"), bad.stderr)
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs WHERE opt_user_id = 'fine'"), 0)
    }

    func testAClaimHandsTheJobsTraceparentToTheWorker() throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, priority, traceparent)
            VALUES ('{d}', 'traced', 1, $1), ('{d}', 'untraced', 0, NULL)
            """, [good])
        let claimed = try GrantQueue(connection: connection).claim(workerID: "w", limit: 2, lease: .seconds(30))
        XCTAssertEqual(claimed.map(\.optUserId), ["traced", "untraced"])
        XCTAssertEqual(claimed.map(\.traceparent), [good, nil])
    }
}
