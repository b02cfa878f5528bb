import Foundation
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
            (NewGrantJob(toCorpIds: ["d", String(repeating: "c", count: 65)], optUserId: "u"), "to_corp_ids_entries_must_be_at_most_64_characters"),
            (NewGrantJob(toCorpIds: ["d"], optUserId: String(repeating: "u", count: 129)), "opt_user_id_must_be_at_most_128_characters"),
            (NewGrantJob(toCorpIds: ["d"], optUserId: "u", idempotencyKey: String(repeating: "k", count: 257)), "idempotency_key_must_be_at_most_256_characters"),
            (NewGrantJob(toCorpIds: ["d"], optUserId: "u", orderingKey: String(repeating: "k", count: 257)), "ordering_key_must_be_at_most_256_characters"),
            (NewGrantJob(toCorpIds: ["d"], optUserId: "u", fields: ["mobile", "mobile", "status"]), "fields_must_have_at_most_2_entries"),
            (NewGrantJob(toCorpIds: ["d"], optUserId: "u", priority: 32767), "priority_must_be_minus_100_to_100"),
            (NewGrantJob(toCorpIds: ["d"], optUserId: "u", runAt: Date().addingTimeInterval(400 * 86_400)), "run_at_must_be_at_most_366_days_ahead"),
        ]
        for (job, constraint) in cases {
            let problems = job.problems()
            XCTAssertEqual(problems.count, 1, "\(job)")
            XCTAssertTrue(problems.first?.contains(constraint) == true, "\(problems) should cite \(constraint)")
        }
    }

    func testLengthsCountCharactersAsPostgreSQLDoes() {
        // 64 three-byte characters: 192 bytes, but 64 characters to PostgreSQL's length().
        XCTAssertEqual(NewGrantJob(toCorpIds: [String(repeating: "码", count: 64)], optUserId: "u").problems(), [])
        // A thumbs-up with a skin tone: one character to Swift, two to PostgreSQL.
        let flags = String(repeating: "👍🏽", count: 64)
        XCTAssertEqual(flags.count, 64)
        XCTAssertEqual(NewGrantJob(toCorpIds: ["d"], optUserId: flags).problems(), [])
        XCTAssertEqual(NewGrantJob(toCorpIds: ["d"], optUserId: flags + "u").problems().count, 1)
    }

    func testRunAtIsMeasuredFromTheGivenClock() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let job = NewGrantJob(toCorpIds: ["d"], optUserId: "u", runAt: now.addingTimeInterval(NewGrantJob.maxRunAtLead))
        XCTAssertEqual(job.problems(now: now), [], "exactly 366 days ahead is allowed")
        XCTAssertEqual(job.problems(now: now.addingTimeInterval(-1)).count, 1)
    }
}
