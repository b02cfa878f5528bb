/// The rows of a statement's result, copied out of libpq's `PGresult` so they
/// outlive it.
public struct PostgresRows: RandomAccessCollection, Sendable {
    public let columns: [String]
    /// Rows affected by INSERT/UPDATE/DELETE (libpq's `PQcmdTuples`); 0 otherwise.
    public let affectedRows: Int
    private let cells: [String?]

    init(columns: [String], cells: [String?], affectedRows: Int) {
        self.columns = columns
        self.cells = cells
        self.affectedRows = affectedRows
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { columns.isEmpty ? 0 : cells.count / columns.count }

    public subscript(position: Int) -> PostgresRow {
        let width = columns.count
        return PostgresRow(columns: columns, cells: cells[(position * width)..<((position + 1) * width)])
    }
}

/// One row of a result. Read a column by position or by name:
/// `try row.decode(0, as: Int64.self)`, `try row.decode("fields", as: [String].self)`.
public struct PostgresRow: Sendable {
    public let columns: [String]
    let cells: ArraySlice<String?>

    /// The raw text of a column; `nil` for SQL NULL.
    public subscript(index: Int) -> String? { cells[cells.startIndex + index] }

    public func decode<T: PostgresDecodable>(_ index: Int, as type: T.Type = T.self) throws(PostgresDecodingError) -> T {
        guard index >= 0, index < columns.count else {
            throw PostgresDecodingError(column: "#\(index)", type: "\(T.self)", reason: "no such column")
        }
        do {
            guard let text = self[index] else { return try T.postgresNull() }
            return try T(postgresText: text)
        } catch {
            var error = error
            error.column = columns[index]
            throw error
        }
    }

    public func decode<T: PostgresDecodable>(_ name: String, as type: T.Type = T.self) throws(PostgresDecodingError) -> T {
        guard let index = columns.firstIndex(of: name) else {
            throw PostgresDecodingError(column: name, type: "\(T.self)", reason: "no such column")
        }
        return try decode(index, as: type)
    }
}
