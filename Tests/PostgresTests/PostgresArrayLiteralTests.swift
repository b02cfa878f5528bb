import Postgres
import XCTest

final class PostgresArrayLiteralTests: XCTestCase {
    static let awkward: [String?] = [
        "plain", "", "with space", "comma,inside", "quote\"inside", "back\\slash", "NULL", "null",
        "{braces}", "tab\tand\nnewline", "汉字 ünïcödé 🙂", " leading", "trailing ", nil,
    ]

    func testEncodeQuotesEveryElementAndEscapes() {
        XCTAssertEqual(PostgresArrayLiteral.encode([]), "{}")
        XCTAssertEqual(PostgresArrayLiteral.encode(["a", nil, "NULL"]), #"{"a",NULL,"NULL"}"#)
        XCTAssertEqual(PostgresArrayLiteral.encode([#"x"y\z"#]), #"{"x\"y\\z"}"#)
    }

    func testDecodeServerOutput() throws {
        XCTAssertEqual(try PostgresArrayLiteral.decode("{}"), [])
        XCTAssertEqual(try PostgresArrayLiteral.decode(#"{a,"b c",NULL,"NULL",""}"#), ["a", "b c", nil, "NULL", ""])
        XCTAssertEqual(try PostgresArrayLiteral.decode(#"{"x\"y","a\\b"}"#), [#"x"y"#, #"a\b"#])
        XCTAssertEqual(try PostgresArrayLiteral.decode("[0:1]={a,b}"), ["a", "b"])
    }

    func testEncodeThenDecodeRoundTrips() throws {
        XCTAssertEqual(try PostgresArrayLiteral.decode(PostgresArrayLiteral.encode(Self.awkward)), Self.awkward)
    }

    func testDecodeRefusesMalformedAndNestedArrays() {
        for bad in ["", "a,b", "{a", #"{"a}"#, "{{a},{b}}", #"{"a"b}"#] {
            XCTAssertThrowsError(try PostgresArrayLiteral.decode(bad), "accepted \(bad.debugDescription)")
        }
    }
}
