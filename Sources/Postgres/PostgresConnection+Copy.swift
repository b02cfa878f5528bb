import CLibPQ

extension PostgresConnection {
    /// Streams rows into `COPY … FROM STDIN` (text format) and returns how many the
    /// server took. `nil` cells are NULL. Either every row goes in or, on error,
    /// none (COPY is one statement).
    @discardableResult
    public func copyFrom(_ sql: String, rows: some Sequence<[String?]>) throws -> Int {
        try beginCopy(sql)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        var failure: PostgresError?
        for row in rows {
            guard Self.appendCopyRow(row, to: &buffer) else {
                failure = PostgresError(kind: .client, message: "a COPY row contains a NUL byte, which PostgreSQL text cannot hold")
                break
            }
            if buffer.count >= 1 << 20 {
                failure = putCopyData(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
            if failure != nil { break }
        }
        if failure == nil { failure = putCopyData(buffer) }
        return try endCopy(failure)
    }

    /// Runs `sql`, a `COPY … FROM STDIN`, and sends `encoded`: rows already in
    /// COPY's text format (see `appendCopyRow`), so that they can be prepared on
    /// another thread while this connection is busy. Returns the rows copied.
    @discardableResult
    public func copyFrom(_ sql: String, encoded: [UInt8]) throws -> Int {
        try beginCopy(sql)
        return try endCopy(putCopyData(encoded))
    }

    private func beginCopy(_ sql: String) throws {
        try ensureUsable()
        guard PQsendQuery(handle, sql) == 1 else { throw connectionError() }
        guard let start = try nextResult(until: waitDeadline()) else { throw connectionError() }
        let status = PQresultStatus(start)
        if status != PGRES_COPY_IN {
            defer { PQclear(start) }
            // Whatever else the statement did, it must finish before the next one.
            while let rest = try nextResult(until: waitDeadline()) { PQclear(rest) }
            if status == PGRES_FATAL_ERROR { throw serverError(start) }
            throw PostgresError(kind: .client, message: "statement did not start COPY FROM STDIN")
        }
        PQclear(start)
    }

    private func putCopyData(_ bytes: [UInt8]) -> PostgresError? {
        guard !bytes.isEmpty else { return nil }
        let sent = bytes.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) }
        }
        return sent == 1 ? nil : connectionError()
    }

    /// Ends the COPY (aborting it if `failure` is set) and collects its result.
    private func endCopy(_ failure: PostgresError?) throws -> Int {
        var failure = failure
        if PQputCopyEnd(handle, failure == nil ? nil : "client error") != 1, failure == nil {
            failure = connectionError()
        }
        var copied = 0
        let deadline = waitDeadline()
        while let result = try nextResult(until: deadline) {
            defer { PQclear(result) }
            if PQresultStatus(result) == PGRES_COPY_IN {
                // The end of the COPY was never delivered; the session is unusable.
                failure = failure ?? connectionError()
                // A fresh session, with its settings, LISTENs and prepared statements restored.
                try? reconnect()
                break
            }
            if PQresultStatus(result) == PGRES_COMMAND_OK {
                copied = affectedRowCount(result)
            } else if failure == nil {
                failure = serverError(result)
            }
        }
        if let failure { throw failure }
        return copied
    }

    /// COPY text format: tab between columns, newline after the row, `\N` for NULL,
    /// and backslash escapes for the characters that would break that framing.
    /// Returns false for a NUL byte, which no text value can hold.
    public static func appendCopyRow(_ row: [String?], to buffer: inout [UInt8]) -> Bool {
        for (index, cell) in row.enumerated() {
            if index > 0 { buffer.append(UInt8(ascii: "\t")) }
            guard let cell else {
                buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "N")])
                continue
            }
            for byte in cell.utf8 {
                switch byte {
                case UInt8(ascii: "\\"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case UInt8(ascii: "\t"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                case UInt8(ascii: "\n"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case UInt8(ascii: "\r"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case 0: return false
                default: buffer.append(byte)
                }
            }
        }
        buffer.append(UInt8(ascii: "\n"))
        return true
    }
}
