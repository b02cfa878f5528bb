import BulkImport
import Foundation
import GrantQueue
import XCTest

final class GrantJobFileTests: XCTestCase {
    func testJSONLinesWithAllKeys() throws {
        let text = """
            {"to_corp_ids":["ding1","ding2"],"opt_user_id":"u1","fields":["mobile","status"],"idempotency_key":"k1","ordering_key":"ding1","priority":5,"run_at":"2026-11-25T14:40:00Z","max_attempts":3}

            {"to_corp_ids":["ding3"],"opt_user_id":"u2"}
            """
        let jobs = try GrantJobFile.parse(Data(text.utf8), format: .jsonl)
        XCTAssertEqual(jobs.count, 2)
        XCTAssertEqual(jobs[0].toCorpIds, ["ding1", "ding2"])
        XCTAssertEqual(jobs[0].fields, ["mobile", "status"])
        XCTAssertEqual(jobs[0].idempotencyKey, "k1")
        XCTAssertEqual(jobs[0].orderingKey, "ding1")
        XCTAssertEqual(jobs[0].priority, 5)
        XCTAssertEqual(jobs[0].maxAttempts, 3)
        XCTAssertEqual(jobs[0].runAt?.timeIntervalSince1970, 1_795_617_600)
        XCTAssertEqual(jobs[1], NewGrantJob(toCorpIds: ["ding3"], optUserId: "u2"))
    }

    func testJSONLinesReportsEveryBadLineByNumber() {
        let text = """
            {"to_corp_ids":["ding1"],"opt_user_id":"u1"}
            {"to_corp_ids":[],"opt_user_id":"u1"}
            not json
            {"to_corp_ids":["ding1"],"opt_user_id":"u1","fields":["email"]}
            {"to_corp_ids":["ding1"],"opt_user_id":"u1","colour":"red"}
            {"to_corp_ids":"ding1","opt_user_id":"u1"}
            {"to_corp_ids":["ding1"],"opt_user_id":"u1","priority":true}
            {"to_corp_ids":["ding1"]}
            """
        XCTAssertThrowsError(try GrantJobFile.parse(Data(text.utf8), format: .jsonl)) { error in
            guard let invalid = error as? GrantJobFile.InvalidFile else { return XCTFail("\(error)") }
            XCTAssertEqual(invalid.badLineCount, 7)
            XCTAssertEqual(invalid.errors.map(\.line), [2, 3, 4, 5, 6, 7, 8])
            XCTAssertTrue(invalid.errors[0].message.contains("to_corp_ids_must_have_1_to_100_entries"))
            XCTAssertTrue(invalid.errors[2].message.contains("fields_must_be_mobile_or_status"))
            XCTAssertTrue(invalid.errors[3].message.contains("colour"))
            XCTAssertTrue(invalid.description.contains("nothing was inserted"))
        }
    }

    func testCSVWithQuotedCellsAndLists() throws {
        let text = #"""
            opt_user_id,to_corp_ids,fields,idempotency_key
            u1,ding1|ding2,mobile|status,k1
            "u,2","ding3, ding4",,
            "multi
            line",ding5,,"say ""hi"""
            """#
        let jobs = try GrantJobFile.parse(Data(text.utf8), format: .csv)
        XCTAssertEqual(jobs.map(\.optUserId), ["u1", "u,2", "multi\nline"])
        XCTAssertEqual(jobs.map(\.toCorpIds), [["ding1", "ding2"], ["ding3", "ding4"], ["ding5"]])
        XCTAssertEqual(jobs[0].fields, ["mobile", "status"])
        XCTAssertEqual(jobs[1].fields, [])
        XCTAssertEqual(jobs[1].idempotencyKey, nil)
        XCTAssertEqual(jobs[2].idempotencyKey, "say \"hi\"")
    }

    func testCSVLineNumbersCountPhysicalLines() {
        let text = "opt_user_id,to_corp_ids\n\"a\nb\",ding1\nu2,\nu3,ding3,extra\n"
        XCTAssertThrowsError(try GrantJobFile.parse(Data(text.utf8), format: .csv)) { error in
            guard let invalid = error as? GrantJobFile.InvalidFile else { return XCTFail("\(error)") }
            XCTAssertEqual(invalid.errors.map(\.line), [4, 5])
        }
    }

    func testCSVHeaderMustNameKnownColumns() {
        XCTAssertThrowsError(try GrantJobFile.parse(Data("user,corp\nu1,ding1\n".utf8), format: .csv)) { error in
            XCTAssertTrue("\(error)".contains("unknown columns user, corp"), "\(error)")
        }
    }

    func testFormatFromFileName() {
        XCTAssertEqual(GrantJobFile.Format(path: "a/b.CSV"), .csv)
        XCTAssertEqual(GrantJobFile.Format(path: "jobs.ndjson"), .jsonl)
        XCTAssertNil(GrantJobFile.Format(path: "jobs.txt"))
    }
}
