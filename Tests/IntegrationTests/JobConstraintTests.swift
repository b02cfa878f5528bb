import Foundation
import Postgres
import XCTest

/// The table refuses bad rows itself, naming the rule each one broke.
final class JobConstraintTests: DatabaseTestCase {
    /// Inserts with raw SQL, as any producer might.
    private func insert(_ columns: String, _ values: String) throws {
        try connection.query("INSERT INTO visibility_grant_jobs (\(columns)) VALUES (\(values))")
    }

    func testEveryRuleRefusesItsBadRowByName() throws {
        let cases: [(columns: String, values: String, constraint: String)] = [
            ("to_corp_ids, opt_user_id", "'{}', 'u'", "to_corp_ids_must_have_1_to_100_entries"),
            ("to_corp_ids, opt_user_id", "(SELECT array_agg('ding' || g) FROM generate_series(1, 101) g), 'u'", "to_corp_ids_must_have_1_to_100_entries"),
            ("to_corp_ids, opt_user_id", "'{ding1,NULL}', 'u'", "to_corp_ids_must_not_contain_null"),
            ("to_corp_ids, opt_user_id", "'{ding1,\"\"}', 'u'", "to_corp_ids_must_not_contain_empty_strings"),
            ("to_corp_ids, opt_user_id", "'{{a,b},{c,d}}', 'u'", "to_corp_ids_must_be_a_flat_list"),
            ("to_corp_ids, opt_user_id", "'[0:0]={a}', 'u'", "to_corp_ids_must_be_a_flat_list"),
            ("to_corp_ids, opt_user_id", "'{ding1}', ''", "opt_user_id_must_not_be_blank"),
            ("to_corp_ids, opt_user_id", "'{ding1}', '   '", "opt_user_id_must_not_be_blank"),
            ("to_corp_ids, opt_user_id, fields", "'{ding1}', 'u', '{email}'", "fields_must_be_mobile_or_status"),
            ("to_corp_ids, opt_user_id, fields", "'{ding1}', 'u', '{mobile,NULL}'", "fields_must_be_mobile_or_status"),
            ("to_corp_ids, opt_user_id, fields", "'{ding1}', 'u', '{{mobile},{status}}'", "fields_must_be_a_flat_list"),
            ("to_corp_ids, opt_user_id, idempotency_key", "'{ding1}', 'u', ''", "idempotency_key_must_not_be_empty"),
            ("to_corp_ids, opt_user_id, ordering_key", "'{ding1}', 'u', ''", "ordering_key_must_not_be_empty"),
            ("to_corp_ids, opt_user_id, max_attempts", "'{ding1}', 'u', 0", "max_attempts_must_be_1_to_1000"),
            ("to_corp_ids, opt_user_id, max_attempts", "'{ding1}', 'u', 1001", "max_attempts_must_be_1_to_1000"),
            ("to_corp_ids, opt_user_id, state", "'{ding1}', 'u', 'done'", "state_must_be_a_known_state"),
            ("to_corp_ids, opt_user_id, attempts", "'{ding1}', 'u', -1", "attempts_must_not_be_negative"),
            ("to_corp_ids, opt_user_id, state", "'{ding1}', 'u', 'running'", "running_jobs_must_have_a_lease"),
        ]
        for (columns, values, constraint) in cases {
            XCTAssertThrowsError(try insert(columns, values), "accepted (\(values))") { error in
                guard let error = error as? PostgresError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.sqlState, "23514", "\(values): \(error)")
                XCTAssertEqual(error.constraint, constraint, "\(values): \(error)")
                XCTAssertTrue(error.message.contains(constraint), "the message alone must name the rule: \(error.message)")
            }
        }
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs"), 0)
    }

    func testMissingRequiredColumnsAndOutOfRangePriority() throws {
        XCTAssertThrowsError(try insert("opt_user_id", "'u'")) { error in
            XCTAssertEqual((error as? PostgresError)?.sqlState, "23502")
            XCTAssertEqual((error as? PostgresError)?.column, "to_corp_ids")
        }
        XCTAssertThrowsError(try insert("to_corp_ids, opt_user_id", "'{ding1}', NULL")) { error in
            XCTAssertEqual((error as? PostgresError)?.column, "opt_user_id")
        }
        XCTAssertThrowsError(try insert("to_corp_ids, opt_user_id, priority", "'{ding1}', 'u', 40000")) { error in
            XCTAssertEqual((error as? PostgresError)?.sqlState, "22003")
        }
    }

    func testAGoodRowIsAcceptedWithTheDocumentedDefaults() throws {
        try connection.query("""
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, fields)
            VALUES ('{ding123,ding456}', '102530009661373952', '{mobile,status}')
            """)
        try insert("to_corp_ids, opt_user_id", "(SELECT array_agg('ding' || g) FROM generate_series(1, 100) g), 'u'")
        let row = try XCTUnwrap(connection.query("""
            SELECT state, attempts, priority, max_attempts, fields, run_at <= now()
            FROM visibility_grant_jobs ORDER BY id LIMIT 1
            """).first)
        XCTAssertEqual(try row.decode(0, as: String.self), "pending")
        XCTAssertEqual(try row.decode(1, as: Int.self), 0)
        XCTAssertEqual(try row.decode(2, as: Int.self), 0)
        XCTAssertEqual(try row.decode(3, as: Int.self), 10)
        XCTAssertEqual(try row.decode(4, as: [String].self), ["mobile", "status"])
        XCTAssertEqual(try row.decode(5, as: Bool.self), true)
    }

    func testIdempotencyKeyMakesAReinsertANoOp() throws {
        let sql = """
            INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, idempotency_key)
            VALUES ('{ding1}', 'u', 'order-42') ON CONFLICT (idempotency_key) DO NOTHING
            """
        XCTAssertEqual(try connection.query(sql).affectedRows, 1)
        XCTAssertEqual(try connection.query(sql).affectedRows, 0)
        // Rows without a key are never deduplicated.
        try insert("to_corp_ids, opt_user_id", "'{ding1}', 'u'")
        try insert("to_corp_ids, opt_user_id", "'{ding1}', 'u'")
        XCTAssertEqual(try count("SELECT count(*) FROM visibility_grant_jobs"), 3)
    }
}
