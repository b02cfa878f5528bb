import Foundation
import Postgres
import XCTest

/// Values sent as parameters come back unchanged, through the server's own parsing.
final class ParameterRoundTripTests: DatabaseTestCase {
    override var migrateDatabase: Bool { false }

    func testAwkwardStringsRoundTripAsScalarsAndArrayElements() throws {
        let strings = [
            "plain", "", "with space", "comma,inside", "quote\"inside", "back\\slash", "NULL", "null",
            "{braces}", "tab\tand\nnewline", "汉字 ünïcödé 🙂", "it's", "$1", "' OR 1=1 --",
        ]
        for string in strings {
            let row = try XCTUnwrap(connection.query("SELECT $1::text, length($1::text)", [string]).first)
            XCTAssertEqual(try row.decode(0, as: String.self), string)
            XCTAssertEqual(try row.decode(1, as: Int.self), string.count, "server saw other characters for \(string.debugDescription)")
        }
        let row = try XCTUnwrap(connection.query("SELECT $1::text[], cardinality($1::text[])", [strings]).first)
        XCTAssertEqual(try row.decode(0, as: [String].self), strings)
        XCTAssertEqual(try row.decode(1, as: Int.self), strings.count)
    }

    func testNullIsNotEmpty() throws {
        let empty: String? = ""
        let none: String? = nil
        let row = try XCTUnwrap(connection.query("SELECT $1::text IS NULL, $2::text IS NULL, $1::text, $2::text", [empty, none]).first)
        XCTAssertEqual(try row.decode(0, as: Bool.self), false)
        XCTAssertEqual(try row.decode(1, as: Bool.self), true)
        XCTAssertEqual(try row.decode(2, as: String?.self), "")
        XCTAssertEqual(try row.decode(3, as: String?.self), nil)
        XCTAssertThrowsError(try row.decode(3, as: String.self), "a NULL must not decode as a non-optional")

        let elements: [String?] = ["", nil, "NULL"]
        let arrayRow = try XCTUnwrap(connection.query(
            "SELECT $1::text[], array_position($1::text[], NULL), ($1::text[])[3] = 'NULL'", [elements]).first)
        XCTAssertEqual(try arrayRow.decode(0, as: [String?].self), elements)
        XCTAssertEqual(try arrayRow.decode(1, as: Int.self), 2)
        XCTAssertEqual(try arrayRow.decode(2, as: Bool.self), true)
        XCTAssertEqual(try connection.query("SELECT '{}'::text[]").first?.decode(0, as: [String].self), [])
    }

    func testNumbersBooleansAndTimestamps() throws {
        let date = Date(timeIntervalSince1970: 1_795_617_609.123456)
        let row = try XCTUnwrap(connection.query(
            "SELECT $1::bigint, $2::int, $3::smallint, $4::bool, $5::float8, $6::timestamptz, $7::bigint[], $6::timestamptz = '2026-11-25 14:40:09.123456+00'",
            [Int64.max, Int32.min, Int16(-7), true, 0.1, date, [Int64(1), Int64(-2)]]
        ).first)
        XCTAssertEqual(try row.decode(0, as: Int64.self), .max)
        XCTAssertEqual(try row.decode(1, as: Int32.self), .min)
        XCTAssertEqual(try row.decode(2, as: Int16.self), -7)
        XCTAssertEqual(try row.decode(3, as: Bool.self), true)
        XCTAssertEqual(try row.decode(4, as: Double.self), 0.1)
        XCTAssertEqual(try row.decode(5, as: Date.self).timeIntervalSince1970, date.timeIntervalSince1970, accuracy: 1e-6)
        XCTAssertEqual(try row.decode(6, as: [Int64].self), [1, -2])
        XCTAssertEqual(try row.decode(7, as: Bool.self), true, "the server read the timestamp as another instant")
    }

    func testDecodingByColumnNameAndErrorsNameTheColumn() throws {
        let row = try XCTUnwrap(connection.query("SELECT 'x'::text AS word, 42 AS answer").first)
        XCTAssertEqual(try row.decode("answer", as: Int.self), 42)
        XCTAssertThrowsError(try row.decode("word", as: Int.self)) { error in
            XCTAssertEqual((error as? PostgresDecodingError)?.column, "word")
            XCTAssertFalse("\(error)".contains("'x'"), "description must not carry row data")
        }
        XCTAssertThrowsError(try row.decode("missing", as: Int.self))
    }

    func testPreparedStatementsAndTransactions() throws {
        try connection.query("CREATE TABLE t (v text)")
        let insert = PostgresStatement(name: "t_insert", sql: "INSERT INTO t (v) VALUES ($1)")
        try connection.query(insert, ["a"])
        try connection.query(insert, ["b"])
        XCTAssertThrowsError(try connection.transaction { connection in
            try connection.query(insert, ["rolled back"])
            throw PostgresError(kind: .client, message: "abort")
        })
        let committed = try connection.transaction { connection in try connection.query(insert, ["c"]).affectedRows }
        XCTAssertEqual(committed, 1)
        let values = try connection.query("SELECT v FROM t ORDER BY v").map { try $0.decode(0, as: String.self) }
        XCTAssertEqual(values, ["a", "b", "c"])
    }

    func testCopyFromCarriesEscapesAndNulls() throws {
        try connection.query("CREATE TABLE c (a text, b text[])")
        let rows: [[String?]] = [
            ["tab\there", ["x,y", nil].postgresText],
            ["back\\slash\nnewline\r", nil],
            [nil, "{}"],
        ]
        XCTAssertEqual(try connection.copyFrom("COPY c (a, b) FROM STDIN", rows: rows), 3)
        let back = try connection.query("SELECT a, b FROM c ORDER BY a NULLS LAST")
        XCTAssertEqual(try back[0].decode(0, as: String?.self), "back\\slash\nnewline\r")
        XCTAssertEqual(try back[1].decode(0, as: String?.self), "tab\there")
        XCTAssertEqual(try back[1].decode(1, as: [String?].self), ["x,y", nil])
        XCTAssertEqual(try back[2].decode(0, as: String?.self), nil)
    }
}
