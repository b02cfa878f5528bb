import CLibPQ
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A named statement, prepared once per connection on first use and again after a reconnect.
public struct PostgresStatement: Sendable, Hashable {
    public let name: String
    public let sql: String

    public init(name: String, sql: String) {
        self.name = name
        self.sql = sql
    }
}

/// One libpq connection.
///
/// Not thread-safe, by design: libpq allows one thread at a time on a
/// connection, so each thread (or serial queue) owns its own. A connection that
/// died while idle (server restart, `pg_terminate_backend`) is noticed before the
/// next statement is sent and re-established, with its LISTENs and session
/// settings restored and its prepared statements prepared again on demand.
///
/// Every wait is bounded: connecting by libpq's `connect_timeout` (per host),
/// each statement by `configuration.timeout` and the shared cutoff, after which
/// the statement is cancelled and the session dropped (see `+Wait`).
public final class PostgresConnection {
    public let configuration: PostgresConfiguration
    public let logger: Logger
    let handle: OpaquePointer
    private let noticeSink: NoticeSink
    private var preparedNames: Set<String> = []
    var listeningChannels: Set<String> = []
    private var transactionDepth = 0
    private var isClosed = false
    /// Set when a statement was abandoned mid-answer: the session must be re-established.
    var needsReset = false
    /// How many times this connection was re-established; lets callers notice that
    /// notifications may have been missed in between.
    public private(set) var reconnectCount = 0

    /// Connects, or throws a `PostgresError` of kind `.connection` with libpq's
    /// message (any password is masked).
    public init(configuration: PostgresConfiguration = .init(), logger: Logger = Logger(label: "postgres")) throws {
        self.configuration = configuration
        self.logger = logger
        if let cutoff = configuration.cutoff?.deadline, cutoff <= .now {
            throw PostgresError(kind: .timeout, message: "not connecting: shutting down")
        }
        // Defaults first: the conninfo's own values (and then the overrides) win over them.
        var keywords = configuration.networkDefaults.map(\.0)
        var values = configuration.networkDefaults.map(\.1)
        if let conninfo = configuration.conninfo, !conninfo.isEmpty {
            keywords.append("dbname")
            values.append(conninfo)
        }
        keywords.append("fallback_application_name")
        values.append(configuration.applicationName)
        // Swift strings are UTF-8; the session must be too.
        keywords.append("client_encoding")
        values.append("UTF8")
        for (key, value) in configuration.overrides.sorted(by: { $0.key < $1.key }) {
            keywords.append(key)
            values.append(value)
        }
        let connection = withCStringArray(keywords) { keywordPointers in
            withCStringArray(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let connection else {
            throw PostgresError(kind: .connection, message: "libpq could not allocate a connection")
        }
        self.handle = connection
        self.noticeSink = NoticeSink(logger: logger)
        guard PQstatus(connection) == CONNECTION_OK else {
            let error = connectionError()
            PQfinish(connection)
            isClosed = true
            throw error
        }
        PQsetNoticeReceiver(connection, noticeReceiver, Unmanaged.passUnretained(noticeSink).toOpaque())
        do {
            try configureSession()
        } catch {
            PQfinish(connection)
            isClosed = true
            throw error
        }
    }

    deinit {
        if !isClosed { PQfinish(handle) }
    }

    /// Closes the connection; further use throws.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        PQfinish(handle)
    }

    /// The server process id of this session (for `pg_terminate_backend`, logs).
    public var backendPID: Int32 { PQbackendPID(handle) }

    public var isConnected: Bool { !isClosed && PQstatus(handle) == CONNECTION_OK }

    /// The value libpq uses for connection option `keyword` (e.g. `connect_timeout`),
    /// after defaults, the conninfo, the environment and the overrides.
    public func setting(_ keyword: String) -> String? {
        guard let options = PQconninfo(handle) else { return nil }
        defer { PQconninfoFree(options) }
        var option = options
        while let name = option.pointee.keyword {
            if String(cString: name) == keyword { return option.pointee.val.map { String(cString: $0) } }
            option += 1
        }
        return nil
    }

    // MARK: Statements

    /// Runs one statement with `$1…` parameters. Parameters never become part of the SQL text.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresEncodable] = []) throws -> PostgresRows {
        try ensureUsable()
        let sent = try withParameterPointers(parameters) { count, values in
            PQsendQueryParams(handle, sql, count, nil, values, nil, nil, 0)
        }
        return try awaitResults(sent: sent)
    }

    /// Runs a named statement, preparing it on this connection first if needed.
    /// In transaction pool mode it is sent unnamed instead: a prepared statement
    /// would live on a server session this connection may not get again.
    @discardableResult
    public func query(_ statement: PostgresStatement, _ parameters: [any PostgresEncodable] = []) throws -> PostgresRows {
        guard configuration.poolMode == .session else { return try query(statement.sql, parameters) }
        try ensureUsable()
        do {
            if !preparedNames.contains(statement.name) {
                try awaitResults(sent: PQsendPrepare(handle, statement.name, statement.sql, 0, nil))
                preparedNames.insert(statement.name)
            }
            let sent = try withParameterPointers(parameters) { count, values in
                PQsendQueryPrepared(handle, statement.name, count, values, nil, nil, 0)
            }
            return try awaitResults(sent: sent)
        } catch var error as PostgresError where error.isSessionStateLost {
            error.message = "the server session changed under this connection (\(error.message)), "
                + "as it does behind a transaction-mode pooler: use pool mode 'transaction'"
            throw error
        }
    }

    /// Runs SQL text that may hold several statements and no parameters, such as a
    /// migration file. Returns the last statement's rows.
    @discardableResult
    public func execute(script sql: String) throws -> PostgresRows {
        try ensureUsable()
        return try awaitResults(sent: PQsendQuery(handle, sql))
    }

    /// Runs `body` inside BEGIN … COMMIT, rolling back if it throws.
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try query("BEGIN")
        transactionDepth += 1
        defer { transactionDepth -= 1 }
        do {
            let value = try body(self)
            try query("COMMIT")
            return value
        } catch {
            if isConnected, !needsReset { _ = try? query("ROLLBACK") }
            throw error
        }
    }

    // MARK: Connection health

    /// Re-establishes the session (same parameters), then restores its settings and LISTENs.
    public func reconnect() throws {
        guard !isClosed else {
            throw PostgresError(kind: .connection, message: "connection was closed")
        }
        if let cutoff = configuration.cutoff?.deadline, cutoff <= .now {
            throw PostgresError(kind: .timeout, message: "not reconnecting: shutting down")
        }
        // Bounded by connect_timeout (per host), which libpq enforces here.
        PQreset(handle)
        guard PQstatus(handle) == CONNECTION_OK else { throw connectionError() }
        needsReset = false
        preparedNames.removeAll()
        try configureSession()
        reconnectCount += 1
        logger.info("reconnected to PostgreSQL", metadata: ["backend_pid": "\(backendPID)"])
    }

    /// Before a statement is sent: if the idle socket has something to read, the
    /// server may have closed the session (restart, terminate). Reading it now
    /// tells, and reconnecting now is safe because nothing of ours is in flight.
    func ensureUsable() throws {
        guard !isClosed else {
            throw PostgresError(kind: .connection, message: "connection was closed")
        }
        var checks = 0
        while !needsReset, PQstatus(handle) == CONNECTION_OK, checks < 3, socketIsReadable(timeoutMilliseconds: 0) {
            checks += 1
            if PQconsumeInput(handle) == 0 { break }
        }
        guard needsReset || PQstatus(handle) != CONNECTION_OK else { return }
        guard transactionDepth == 0 else {
            // The transaction died with the session; the caller must start over.
            throw PostgresError(kind: .connection, sqlState: "08006", message: "the session was lost inside a transaction")
        }
        try reconnect()
    }

    func socketIsReadable(timeoutMilliseconds: Int32) -> Bool {
        let socket = PQsocket(handle)
        guard socket >= 0 else { return false }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, timeoutMilliseconds)
        return ready > 0
    }

    private func configureSession() throws {
        switch configuration.poolMode {
        case .session:
            // Fixed date output so timestamps parse the same whatever the server's defaults.
            // No JIT: every statement here is short, and the planner asks for JIT by its cost
            // estimate alone (a read per app over a table not yet analysed is priced like a
            // report): compiling took 30-600 ms for a read that runs in a few.
            try execute(script: "SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; SET IntervalStyle = 'postgres'; SET jit = off")
            for channel in listeningChannels.sorted() {
                try execute(script: "LISTEN \(try quoteIdentifier(channel))")
            }
        case .transaction:
            // Nothing may be SET: the next transaction may run on another session. Timestamps
            // carry their UTC offset in any ISO DateStyle, so that much is all that is needed.
            let dateStyle = PQparameterStatus(handle, "DateStyle").map { String(cString: $0) } ?? ""
            guard dateStyle.uppercased().hasPrefix("ISO") else {
                throw PostgresError(kind: .client, message:
                    "the server's DateStyle is '\(dateStyle)'; transaction pool mode needs an ISO DateStyle (ALTER DATABASE … SET DateStyle = 'ISO, YMD')")
            }
        }
    }

    // MARK: Results and errors

    func copyRows(_ result: OpaquePointer) -> PostgresRows {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        var columns: [String] = []
        columns.reserveCapacity(columnCount)
        for column in 0..<columnCount {
            columns.append(PQfname(result, Int32(column)).map { String(cString: $0) } ?? "?column?")
        }
        var cells: [String?] = []
        cells.reserveCapacity(rowCount * columnCount)
        for row in 0..<Int32(rowCount) {
            for column in 0..<Int32(columnCount) {
                if PQgetisnull(result, row, column) == 1 {
                    cells.append(nil)
                } else {
                    cells.append(String(cString: PQgetvalue(result, row, column)))
                }
            }
        }
        return PostgresRows(columns: columns, cells: cells, affectedRows: affectedRowCount(result))
    }

    /// The row count of INSERT/UPDATE/DELETE/COPY (0 for other statements).
    func affectedRowCount(_ result: OpaquePointer) -> Int {
        PQcmdTuples(result).map { Int(String(cString: $0)) ?? 0 } ?? 0
    }

    func serverError(_ result: OpaquePointer) -> PostgresError {
        func field(_ code: Int) -> String? {
            PQresultErrorField(result, Int32(code)).map { String(cString: $0) }
        }
        let connectionLost = PQstatus(handle) != CONNECTION_OK
        var message = field(Int(CLIBPQ_DIAG_MESSAGE_PRIMARY))
            ?? String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
        if message.isEmpty { message = lastErrorMessage() }
        return PostgresError(
            kind: connectionLost ? .connection : .server,
            sqlState: field(Int(CLIBPQ_DIAG_SQLSTATE)),
            severity: field(Int(CLIBPQ_DIAG_SEVERITY_NONLOCALIZED)),
            message: redact(message),
            detail: field(Int(CLIBPQ_DIAG_MESSAGE_DETAIL)),
            hint: field(Int(CLIBPQ_DIAG_MESSAGE_HINT)),
            schema: field(Int(CLIBPQ_DIAG_SCHEMA_NAME)),
            table: field(Int(CLIBPQ_DIAG_TABLE_NAME)),
            column: field(Int(CLIBPQ_DIAG_COLUMN_NAME)),
            constraint: field(Int(CLIBPQ_DIAG_CONSTRAINT_NAME))
        )
    }

    func connectionError() -> PostgresError {
        PostgresError(kind: .connection, sqlState: "08006", message: redact(lastErrorMessage()))
    }

    private func lastErrorMessage() -> String {
        let text = PQerrorMessage(handle).map { String(cString: $0) } ?? ""
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? "connection to PostgreSQL failed" : trimmed
    }

    /// libpq does not print passwords, but a message quoting the conninfo could; mask it anyway.
    private func redact(_ message: String) -> String {
        guard let password = PQpass(handle).map({ String(cString: $0) }), password.count >= 3 else { return message }
        return message.replacingOccurrences(of: password, with: "********")
    }

    func quoteIdentifier(_ identifier: String) throws -> String {
        guard let quoted = PQescapeIdentifier(handle, identifier, identifier.utf8.count) else {
            throw PostgresError(kind: .client, message: "cannot quote identifier")
        }
        defer { PQfreemem(quoted) }
        return String(cString: quoted)
    }
}

// MARK: - C plumbing

/// Lends `strings` to C as a NULL-terminated array of C strings.
private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    var pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) }
    pointers.append(nil)
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Lends parameters to C in text format; `nil` elements are SQL NULL. A NUL
/// byte would end a C string early and silently shorten the value, so it is refused.
private func withParameterPointers<R>(
    _ parameters: [any PostgresEncodable],
    _ body: (Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> R
) throws -> R {
    if parameters.isEmpty { return body(0, nil) }
    var copies: [UnsafeMutablePointer<CChar>?] = []
    copies.reserveCapacity(parameters.count)
    defer { copies.forEach { free($0) } }
    for (index, parameter) in parameters.enumerated() {
        let text = parameter.postgresText
        if let text, text.utf8.contains(0) {
            throw PostgresError(kind: .client, message: "parameter $\(index + 1) contains a NUL byte, which PostgreSQL text cannot hold")
        }
        copies.append(text.map { strdup($0) })
    }
    let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } }
    return pointers.withUnsafeBufferPointer { body(Int32(parameters.count), $0.baseAddress) }
}

/// Routes server NOTICE/WARNING messages to the logger instead of libpq's stderr default.
private final class NoticeSink {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }
}

private let noticeReceiver: PQnoticeReceiver = { context, result in
    guard let context, let result else { return }
    let sink = Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue()
    let severity = PQresultErrorField(result, Int32(CLIBPQ_DIAG_SEVERITY_NONLOCALIZED)).map { String(cString: $0) } ?? "NOTICE"
    let message = PQresultErrorField(result, Int32(CLIBPQ_DIAG_MESSAGE_PRIMARY)).map { String(cString: $0) } ?? ""
    // WARNINGs deserve attention; NOTICEs ("relation already exists, skipping") are routine.
    let level: Logger.Level = severity == "WARNING" ? .warning : .debug
    sink.logger.log(level: level, "\(message)", metadata: ["postgres_severity": "\(severity)"])
}
