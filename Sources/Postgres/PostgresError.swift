/// An error from PostgreSQL or from libpq.
///
/// `description` is safe to log: it carries the SQLSTATE, the primary message and
/// the constraint name, never the statement's parameters. The server's DETAIL
/// (which for a CHECK violation repeats the whole failing row) and HINT are only
/// in `debugDescription`.
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The connection could not be made, or was lost.
        case connection
        /// The server refused a statement (constraint violation, syntax error, ...).
        case server
        /// libpq or this wrapper could not carry out the request (bad COPY state, ...).
        case client
        /// No answer within the configured timeout (or before the shutdown cutoff):
        /// the statement was cancelled and the session dropped.
        case timeout
    }

    public var kind: Kind
    /// Five-character SQLSTATE code, e.g. `23514` for a CHECK violation.
    public var sqlState: String?
    public var severity: String?
    public var message: String
    public var detail: String?
    public var hint: String?
    public var schema: String?
    public var table: String?
    public var column: String?
    /// Name of the violated constraint, for integrity errors.
    public var constraint: String?

    public init(
        kind: Kind, sqlState: String? = nil, severity: String? = nil, message: String,
        detail: String? = nil, hint: String? = nil, schema: String? = nil, table: String? = nil,
        column: String? = nil, constraint: String? = nil
    ) {
        self.kind = kind
        self.sqlState = sqlState
        self.severity = severity
        self.message = message
        self.detail = detail
        self.hint = hint
        self.schema = schema
        self.table = table
        self.column = column
        self.constraint = constraint
    }

    /// True when the statement failed because the connection is gone, so it can be
    /// retried on a new connection (class 08, or the server shutting the session down).
    public var isConnectionFailure: Bool {
        if kind == .connection || kind == .timeout { return true }
        guard let sqlState else { return false }
        return sqlState.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(sqlState)
    }

    /// True when the same statement may well succeed if sent again later: the
    /// connection failed, or the server gave up on it for a reason that passes
    /// (a serialization failure, a deadlock, a lock or statement timeout, a lack of
    /// resources, a shutdown). False when the server refused what the statement
    /// carries (a constraint, a type, a permission): sending it again changes nothing.
    public var isTransient: Bool {
        if isConnectionFailure || kind == .client { return true }
        guard let sqlState else { return false }
        return ["40001", "40P01", "55P03", "57014"].contains(sqlState)
            || sqlState.hasPrefix("53") || sqlState.hasPrefix("58") || sqlState.hasPrefix("57P")
    }

    /// True when a named prepared statement vanished or was already there: the
    /// session changed under the connection, as behind a transaction-mode pooler.
    public var isSessionStateLost: Bool {
        kind == .server && (sqlState == "26000" || sqlState == "42P05")
    }

    public var description: String {
        var text = "PostgreSQL"
        if let severity { text += " \(severity)" }
        if let sqlState { text += " [\(sqlState)]" }
        text += ": \(message)"
        if let constraint, !message.contains(constraint) { text += " (constraint \(constraint))" }
        return text
    }

    public var debugDescription: String {
        var text = description
        if let detail { text += "\nDETAIL: \(detail)" }
        if let hint { text += "\nHINT: \(hint)" }
        if let schema { text += "\nSCHEMA: \(schema)" }
        if let table { text += "\nTABLE: \(table)" }
        if let column { text += "\nCOLUMN: \(column)" }
        return text
    }
}

/// A value read from a row could not be turned into the requested Swift type.
public struct PostgresDecodingError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public var column: String
    public var type: String
    public var reason: String
    /// The offending text; only in `debugDescription`, since it is row data.
    public var value: String?

    public init(column: String = "?", type: String, reason: String, value: String? = nil) {
        self.column = column
        self.type = type
        self.reason = reason
        self.value = value
    }

    public var description: String { "cannot decode column \(column) as \(type): \(reason)" }
    public var debugDescription: String {
        description + (value.map { " (value: \($0.debugDescription))" } ?? "")
    }
}
