import GrantQueue
import XCTest

final class NewGrantJobTests: XCTestCase {
    func testAGoodJobHasNoProblems() {
        XCTAssertEqual(NewGrantJob(toCorpIds: ["ding1"], optUserId: "u", fields: ["status"]).problems(), [])
    }

    func testProblemsNameTheConstraintTheDatabaseWouldCite() {
        let cases: [(NewGrantJob, String)] = [
            (NewGrantJob(toCorpIds: [], optUserId: "u"), "to_corp_ids_must_have_1_to_100_entries"),
            (NewGrantJob(toCorpIds: Array(repeating: "d", count: 101), optUserId: "u"), "to_corp_ids_must_have_1_to_100_entries"),
            (NewGrantJob(toCorpIds: ["d", ""], optUserId: "u"), "to_corp_ids_must_not_contain_empty_strings"),
            (NewGrantJob(toCorpIds: ["d"], optUserId: "  "), "opt_user_id_must_not_be_blank"),
            (NewGrantJob(toCorpIds: ["d"], optUserId: "u", fields: ["email"]), "fields_must_be_mobile_or_status"),
            (NewGrantJob(toCorpIds: ["d"], optUserId: "u", idempotencyKey: ""), "idempotency_key_must_not_be_empty"),
            (NewGrantJob(toCorpIds: ["d"], optUserId: "u", orderingKey: ""), "ordering_key_must_not_be_empty"),
            (NewGrantJob(toCorpIds: ["d"], optUserId: "u", maxAttempts: 0), "max_attempts_must_be_1_to_1000"),
        ]
        for (job, constraint) in cases {
            let problems = job.problems()
            XCTAssertEqual(problems.count, 1, "\(job)")
            XCTAssertTrue(problems.first?.contains(constraint) == true, "\(problems) should cite \(constraint)")
        }
    }
}
