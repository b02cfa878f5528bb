import Foundation
import GrantQueue

extension GrantJobFile {
    /// One line's worth of a jobs file: a job to insert, or why the line is bad.
    public enum Entry: Sendable, Equatable {
        case job(line: Int, NewGrantJob)
        case bad(LineError)
    }

    /// Reads a jobs file one record at a time, in constant memory: JSON Lines
    /// line by line, CSV record by record (a quoted cell may span lines; the
    /// record keeps the number of the line it starts on).
    public final class Reader {
        public let format: Format
        private let stream: ByteStream
        private var lineNumber = 0
        /// CSV: each column's position, once the header is read.
        private var header: [String: Int]?

        /// Reads the open file `descriptor` (0 for standard input) to its end; does not close it.
        public init(descriptor: Int32, format: Format) {
            self.format = format
            stream = ByteStream(descriptor: descriptor)
        }

        /// Reads a file held in memory.
        public init(data: Data, format: Format) {
            self.format = format
            stream = ByteStream(bytes: [UInt8](data))
        }

        /// Bytes read so far, for progress.
        public var bytesRead: Int { stream.bytesRead }

        /// The next job or bad line; nil at the end. Throws `InvalidFile` when the
        /// file cannot be read as a whole (a CSV header that names no known columns,
        /// an unterminated quote) and `ReadError` when reading fails.
        public func next() throws -> Entry? {
            switch format {
            case .jsonl: return try nextJSONLine()
            case .csv: return try nextCSVRecord()
            }
        }

        private func nextJSONLine() throws -> Entry? {
            while true {
                let entry = try stream.nextLine { line -> Entry? in
                    lineNumber += 1
                    if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }) {
                        return nil
                    }
                    return Entry(line: lineNumber, jobFromJSON(line))
                }
                guard let entry else { return nil }  // the end
                if let entry { return entry }  // else a blank line: read on
            }
        }

        private func nextCSVRecord() throws -> Entry? {
            if header == nil {
                guard let (line, fields) = try readCSVRecord() else {
                    throw InvalidFile(errors: [LineError(line: 1, message: "empty file: expected a header row")], badLineCount: 1)
                }
                let names = try Self.checkHeader(fields, line: line)
                header = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
            }
            let positions = header ?? [:]
            while let (line, fields) = try readCSVRecord() {
                if fields.count == 1, fields[0].isEmpty { continue }  // a blank line
                guard fields.count == positions.count else {
                    return .bad(LineError(line: line, message: "expected \(positions.count) columns, found \(fields.count)"))
                }
                return Entry(line: line, jobFromCSV { positions[$0].map { fields[$0] } })
            }
            return nil
        }

        private static func checkHeader(_ fields: [String], line: Int) throws -> [String] {
            let names = fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            let unknown = names.filter { !columns.contains($0) }
            guard unknown.isEmpty, names.contains("to_corp_ids"), names.contains("opt_user_id") else {
                let message = unknown.isEmpty
                    ? "the header must name to_corp_ids and opt_user_id"
                    : "unknown column\(unknown.count == 1 ? "" : "s") \(unknown.joined(separator: ", ")); allowed: \(columns.joined(separator: ", "))"
                throw InvalidFile(errors: [LineError(line: line, message: message)], badLineCount: 1)
            }
            return names
        }

        /// RFC 4180: comma-separated, `"`-quoted fields with `""` for a quote, line
        /// breaks allowed inside quotes, `\r` outside quotes ignored.
        private func readCSVRecord() throws -> (line: Int, fields: [String])? {
            var fields: [String] = []
            var field: [UInt8] = []
            var inQuotes = false
            var pendingQuote = false  // a quote inside quotes: the end, or the first of `""`
            let firstLine = lineNumber + 1
            var readAny = false
            while true {
                let more = try stream.nextLine { bytes -> Bool in
                    lineNumber += 1
                    readAny = true
                    for byte in bytes {
                        if pendingQuote {
                            pendingQuote = false
                            if byte == UInt8(ascii: "\"") {
                                field.append(byte)
                                continue
                            }
                            inQuotes = false
                        }
                        if inQuotes {
                            if byte == UInt8(ascii: "\"") { pendingQuote = true } else { field.append(byte) }
                            continue
                        }
                        switch byte {
                        case UInt8(ascii: "\""): inQuotes = true
                        case UInt8(ascii: ","):
                            fields.append(String(decoding: field, as: UTF8.self))
                            field.removeAll(keepingCapacity: true)
                        case UInt8(ascii: "\r"): continue
                        default: field.append(byte)
                        }
                    }
                    if pendingQuote {
                        pendingQuote = false
                        inQuotes = false
                    }
                    if inQuotes { field.append(UInt8(ascii: "\n")) }
                    return true
                }
                if more == nil {
                    guard !inQuotes else {
                        throw InvalidFile(errors: [LineError(line: firstLine, message: "unterminated quoted field")], badLineCount: 1)
                    }
                    guard readAny else { return nil }
                    break
                }
                if !inQuotes { break }
            }
            fields.append(String(decoding: field, as: UTF8.self))
            return (firstLine, fields)
        }
    }
}

extension GrantJobFile.Entry {
    /// A parsed line, checked against the table's rules.
    init(line: Int, _ parsed: Result<NewGrantJob, GrantJobFile.FieldError>) {
        switch parsed {
        case .success(let job):
            let problems = job.problems()
            self = problems.isEmpty
                ? .job(line: line, job)
                : .bad(GrantJobFile.LineError(line: line, message: problems.joined(separator: "; ")))
        case .failure(let error):
            self = .bad(GrantJobFile.LineError(line: line, message: error.message))
        }
    }
}

/// Reading a jobs file failed (not its content: the file itself).
public struct ReadError: Error, Sendable, CustomStringConvertible {
    public let description: String
}
