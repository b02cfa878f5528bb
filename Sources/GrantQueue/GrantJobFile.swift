import Foundation
import Postgres

/// Reads jobs from a producer's file: CSV with a header row, or JSON Lines.
///
/// Every line is parsed and checked against the table's rules before anything
/// is inserted, so a bad file is refused whole, with line numbers.
public enum GrantJobFile {
    public enum Format: String, Sendable, CaseIterable {
        case csv
        case jsonl

        /// From the file name: `.csv`, or `.jsonl` / `.ndjson` / `.json`.
        public init?(path: String) {
            switch (path as NSString).pathExtension.lowercased() {
            case "csv": self = .csv
            case "jsonl", "ndjson", "json": self = .jsonl
            default: return nil
            }
        }
    }

    /// The columns a file may carry (names as in the table).
    public static let columns = [
        "to_corp_ids", "opt_user_id", "fields", "idempotency_key", "ordering_key", "priority", "run_at", "max_attempts",
    ]

    public struct LineError: Sendable, Equatable, CustomStringConvertible {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// The file could not be read whole; `errors` lists the first problems found.
    public struct InvalidFile: Error, Sendable, CustomStringConvertible {
        public let errors: [LineError]
        /// How many lines were bad in all (`errors` may be cut short).
        public let badLineCount: Int
        public var description: String {
            var text = "\(badLineCount) bad line\(badLineCount == 1 ? "" : "s"); nothing was inserted\n"
            text += errors.map { "  \($0)" }.joined(separator: "\n")
            if badLineCount > errors.count { text += "\n  … and \(badLineCount - errors.count) more" }
            return text
        }
    }

    /// Parses `data`; throws `InvalidFile` listing at most `maxErrors` problems.
    public static func parse(_ data: Data, format: Format, maxErrors: Int = 20) throws -> [NewGrantJob] {
        var jobs: [NewGrantJob] = []
        var errors: [LineError] = []
        var badLines = 0
        func accept(line: Int, _ result: Result<NewGrantJob, FieldError>) {
            switch result {
            case .success(let job):
                let problems = job.problems()
                if problems.isEmpty {
                    jobs.append(job)
                } else {
                    badLines += 1
                    if errors.count < maxErrors { errors.append(LineError(line: line, message: problems.joined(separator: "; "))) }
                }
            case .failure(let error):
                badLines += 1
                if errors.count < maxErrors { errors.append(LineError(line: line, message: error.message)) }
            }
        }
        switch format {
        case .jsonl:
            let decoder = JSONDecoder()
            for (number, line) in lines(of: data) {
                if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }) { continue }
                accept(line: number, jobFromJSON(Data(line), decoder: decoder))
            }
        case .csv:
            let records = try CSVReader.records(in: data)
            guard let header = records.first else {
                throw InvalidFile(errors: [LineError(line: 1, message: "empty file: expected a header row")], badLineCount: 1)
            }
            let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            let unknown = names.filter { !columns.contains($0) }
            guard unknown.isEmpty, names.contains("to_corp_ids"), names.contains("opt_user_id") else {
                let message = unknown.isEmpty
                    ? "the header must name to_corp_ids and opt_user_id"
                    : "unknown column\(unknown.count == 1 ? "" : "s") \(unknown.joined(separator: ", ")); allowed: \(columns.joined(separator: ", "))"
                throw InvalidFile(errors: [LineError(line: header.line, message: message)], badLineCount: 1)
            }
            for record in records.dropFirst() {
                if record.fields.count == 1, record.fields[0].isEmpty { continue }
                guard record.fields.count == names.count else {
                    accept(line: record.line, .failure(FieldError("expected \(names.count) columns, found \(record.fields.count)")))
                    continue
                }
                accept(line: record.line, jobFromCSV(Dictionary(uniqueKeysWithValues: zip(names, record.fields))))
            }
        }
        if badLines > 0 { throw InvalidFile(errors: errors, badLineCount: badLines) }
        return jobs
    }

    struct FieldError: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    /// Splits on `\n`, numbering from 1.
    static func lines(of data: Data) -> [(Int, Data.SubSequence)] {
        data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .enumerated().map { ($0.offset + 1, $0.element) }
    }

    /// Any JSON value, so that a line's keys and types can be checked one by one.
    enum JSONValue: Decodable {
        case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() { self = .null }
            else if let value = try? container.decode(Bool.self) { self = .bool(value) }
            else if let value = try? container.decode(Double.self) { self = .number(value) }
            else if let value = try? container.decode(String.self) { self = .string(value) }
            else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
            else { self = .object(try container.decode([String: JSONValue].self)) }
        }
    }

    static func jobFromJSON(_ line: Data, decoder: JSONDecoder) -> Result<NewGrantJob, FieldError> {
        guard case .object(let fields)? = try? decoder.decode(JSONValue.self, from: line) else {
            return .failure(FieldError("not a JSON object"))
        }
        let unknown = fields.keys.filter { !columns.contains($0) }.sorted()
        if !unknown.isEmpty {
            return .failure(FieldError("unknown key\(unknown.count == 1 ? "" : "s") \(unknown.joined(separator: ", "))"))
        }
        func strings(_ key: String) throws(FieldError) -> [String]? {
            switch fields[key] {
            case nil, .null?: return nil
            case .array(let values)?:
                var strings: [String] = []
                for value in values {
                    guard case .string(let string) = value else { throw FieldError("\(key) must be an array of strings") }
                    strings.append(string)
                }
                return strings
            default: throw FieldError("\(key) must be an array of strings")
            }
        }
        func string(_ key: String) throws(FieldError) -> String? {
            switch fields[key] {
            case nil, .null?: return nil
            case .string(let string)?: return string
            default: throw FieldError("\(key) must be a string")
            }
        }
        func integer(_ key: String) throws(FieldError) -> Int? {
            switch fields[key] {
            case nil, .null?: return nil
            case .number(let number)?:
                guard let integer = Int(exactly: number) else { throw FieldError("\(key) must be an integer") }
                return integer
            default: throw FieldError("\(key) must be an integer")
            }
        }
        do throws(FieldError) {
            guard let corpIDs = try strings("to_corp_ids") else { throw FieldError("to_corp_ids is required") }
            guard let userID = try string("opt_user_id") else { throw FieldError("opt_user_id is required") }
            return .success(try makeJob(
                toCorpIds: corpIDs, optUserId: userID, fields: try strings("fields") ?? [],
                idempotencyKey: try string("idempotency_key"), orderingKey: try string("ordering_key"),
                priority: try integer("priority"), runAt: try string("run_at"), maxAttempts: try integer("max_attempts")))
        } catch {
            return .failure(error)
        }
    }

    /// CSV cells: lists separated by `|` or `,` (`ding1|ding2`); an empty cell is "not given".
    static func jobFromCSV(_ cells: [String: String]) -> Result<NewGrantJob, FieldError> {
        func cell(_ key: String) -> String? {
            guard let value = cells[key]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
            return value
        }
        func list(_ key: String) -> [String] {
            guard let value = cell(key) else { return [] }
            return value.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "|" || $0 == "," })
                .map { $0.trimmingCharacters(in: .whitespaces) }
        }
        func integer(_ key: String) throws(FieldError) -> Int? {
            guard let value = cell(key) else { return nil }
            guard let integer = Int(value) else { throw FieldError("\(key) must be an integer") }
            return integer
        }
        do throws(FieldError) {
            guard let userID = cells["opt_user_id"] else { throw FieldError("opt_user_id is required") }
            return .success(try makeJob(
                toCorpIds: list("to_corp_ids"), optUserId: userID, fields: list("fields"),
                idempotencyKey: cell("idempotency_key"), orderingKey: cell("ordering_key"),
                priority: try integer("priority"), runAt: cell("run_at"), maxAttempts: try integer("max_attempts")))
        } catch {
            return .failure(error)
        }
    }

    static func makeJob(
        toCorpIds: [String], optUserId: String, fields: [String], idempotencyKey: String?, orderingKey: String?,
        priority: Int?, runAt: String?, maxAttempts: Int?
    ) throws(FieldError) -> NewGrantJob {
        var job = NewGrantJob(toCorpIds: toCorpIds, optUserId: optUserId, fields: fields,
                              idempotencyKey: idempotencyKey, orderingKey: orderingKey)
        if let priority {
            guard let value = Int16(exactly: priority) else { throw FieldError(NewGrantJob.priorityProblem(priority)) }
            job.priority = value
        }
        if let maxAttempts {
            guard let value = Int32(exactly: maxAttempts) else { throw FieldError("max_attempts is out of range") }
            job.maxAttempts = value
        }
        if let runAt {
            do {
                job.runAt = try PostgresTimestamp.parse(runAt)
            } catch {
                throw FieldError("run_at must be a timestamp like 2026-11-25T14:40:00Z")
            }
        }
        return job
    }
}

/// RFC 4180 CSV: comma-separated, `"`-quoted fields with `""` for a quote, and
/// line breaks allowed inside quotes. Records carry the line they start on.
enum CSVReader {
    struct Record {
        let line: Int
        let fields: [String]
    }

    static func records(in data: Data) throws -> [Record] {
        var records: [Record] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var line = 1
        var recordLine = 1
        var inQuotes = false
        var index = data.startIndex
        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
        }
        while index < data.endIndex {
            let byte = data[index]
            index = data.index(after: index)
            if inQuotes {
                if byte == UInt8(ascii: "\"") {
                    if index < data.endIndex, data[index] == UInt8(ascii: "\"") {
                        field.append(byte)
                        index = data.index(after: index)
                    } else {
                        inQuotes = false
                    }
                } else {
                    if byte == UInt8(ascii: "\n") { line += 1 }
                    field.append(byte)
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inQuotes = true
            case UInt8(ascii: ","):
                endField()
            case UInt8(ascii: "\r"):
                continue
            case UInt8(ascii: "\n"):
                endField()
                records.append(Record(line: recordLine, fields: fields))
                fields.removeAll(keepingCapacity: true)
                line += 1
                recordLine = line
            default:
                field.append(byte)
            }
        }
        if inQuotes {
            throw GrantJobFile.InvalidFile(
                errors: [GrantJobFile.LineError(line: recordLine, message: "unterminated quoted field")], badLineCount: 1)
        }
        if !field.isEmpty || !fields.isEmpty {
            endField()
            records.append(Record(line: recordLine, fields: fields))
        }
        return records
    }
}
