import Foundation

/// A Swift type that can be read from a column in PostgreSQL's text format.
public protocol PostgresDecodable {
    init(postgresText: String) throws(PostgresDecodingError)
    /// The value for SQL NULL; types other than `Optional` refuse it.
    static func postgresNull() throws(PostgresDecodingError) -> Self
}

extension PostgresDecodable {
    public static func postgresNull() throws(PostgresDecodingError) -> Self {
        throw PostgresDecodingError(type: "\(Self.self)", reason: "unexpected NULL")
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init(postgresText: String) throws(PostgresDecodingError) {
        self = .some(try Wrapped(postgresText: postgresText))
    }

    public static func postgresNull() -> Self { nil }
}

extension String: PostgresDecodable {
    public init(postgresText: String) { self = postgresText }
}

private func decodeInteger<T: FixedWidthInteger>(_ text: String) throws(PostgresDecodingError) -> T {
    guard let value = T(text) else {
        throw PostgresDecodingError(type: "\(T.self)", reason: "not an integer in range", value: text)
    }
    return value
}

extension Int: PostgresDecodable {
    public init(postgresText: String) throws(PostgresDecodingError) { self = try decodeInteger(postgresText) }
}

extension Int64: PostgresDecodable {
    public init(postgresText: String) throws(PostgresDecodingError) { self = try decodeInteger(postgresText) }
}

extension Int32: PostgresDecodable {
    public init(postgresText: String) throws(PostgresDecodingError) { self = try decodeInteger(postgresText) }
}

extension Int16: PostgresDecodable {
    public init(postgresText: String) throws(PostgresDecodingError) { self = try decodeInteger(postgresText) }
}

extension Bool: PostgresDecodable {
    public init(postgresText: String) throws(PostgresDecodingError) {
        switch postgresText {
        case "t", "true": self = true
        case "f", "false": self = false
        default: throw PostgresDecodingError(type: "Bool", reason: "not a boolean", value: postgresText)
        }
    }
}

extension Double: PostgresDecodable {
    public init(postgresText: String) throws(PostgresDecodingError) {
        switch postgresText {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default:
            guard let value = Double(postgresText) else {
                throw PostgresDecodingError(type: "Double", reason: "not a number", value: postgresText)
            }
            self = value
        }
    }
}

extension Date: PostgresDecodable {
    public init(postgresText: String) throws(PostgresDecodingError) {
        self = try PostgresTimestamp.parse(postgresText)
    }
}

extension Array: PostgresDecodable where Element: PostgresDecodable {
    public init(postgresText: String) throws(PostgresDecodingError) {
        let elements = try PostgresArrayLiteral.decode(postgresText)
        var result: [Element] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            if let element {
                result.append(try Element(postgresText: element))
            } else {
                result.append(try Element.postgresNull())
            }
        }
        self = result
    }
}
