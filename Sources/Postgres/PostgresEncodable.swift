import Foundation

/// A Swift value that can be sent as a statement parameter (`$1`, `$2`, ...).
///
/// Parameters travel in PostgreSQL's text format; `nil` is SQL NULL. Values are
/// never spliced into SQL text.
public protocol PostgresEncodable {
    var postgresText: String? { get }
}

extension String: PostgresEncodable {
    public var postgresText: String? { self }
}

extension Substring: PostgresEncodable {
    public var postgresText: String? { String(self) }
}

extension Int: PostgresEncodable {
    public var postgresText: String? { String(self) }
}

extension Int64: PostgresEncodable {
    public var postgresText: String? { String(self) }
}

extension Int32: PostgresEncodable {
    public var postgresText: String? { String(self) }
}

extension Int16: PostgresEncodable {
    public var postgresText: String? { String(self) }
}

extension Bool: PostgresEncodable {
    public var postgresText: String? { self ? "t" : "f" }
}

extension Double: PostgresEncodable {
    public var postgresText: String? {
        if isNaN { return "NaN" }
        if isInfinite { return self > 0 ? "Infinity" : "-Infinity" }
        return String(self)
    }
}

extension Date: PostgresEncodable {
    public var postgresText: String? { PostgresTimestamp.format(self) }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresText: String? { self?.postgresText }
}

/// Arrays go as one-dimensional array literals with every element quoted, so that
/// commas, quotes, backslashes, braces and the word NULL all arrive intact. Cast
/// the parameter in SQL (`$1::text[]`, `$1::bigint[]`).
extension Array: PostgresEncodable where Element: PostgresEncodable {
    public var postgresText: String? { PostgresArrayLiteral.encode(map { $0.postgresText }) }
}
