import Foundation
import GrantQueue
import Postgres

/// Reads jobs from a producer's file: CSV with a header row, or JSON Lines.
///
/// `Reader` streams a file of any size line by line; `parse` reads one held in
/// memory. Every line is checked against the table's rules, so a bad line is
/// reported with its number and the rule it broke.
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
        "app", "traceparent",
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
        let reader = Reader(data: data, format: format)
        var jobs: [NewGrantJob] = []
        var errors: [LineError] = []
        var badLines = 0
        while let entry = try reader.next() {
            switch entry {
            case .job(_, let job):
                jobs.append(job)
            case .bad(let error):
                badLines += 1
                if errors.count < maxErrors { errors.append(error) }
            }
        }
        if badLines > 0 { throw InvalidFile(errors: errors, badLineCount: badLines) }
        return jobs
    }

    struct FieldError: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    static func jobFromJSON(_ line: ArraySlice<UInt8>) -> Result<NewGrantJob, FieldError> {
        guard case .object(let fields)? = JSONLineParser.parse(line) else {
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
                priority: try integer("priority"), runAt: try string("run_at"), maxAttempts: try integer("max_attempts"),
                app: try string("app"), traceparent: try string("traceparent")))
        } catch {
            return .failure(error)
        }
    }

    /// CSV cells: lists separated by `|` or `,` (`ding1|ding2`); an empty cell is
    /// "not given". `cells` gives a column's raw text by name, nil if the file has no such column.
    static func jobFromCSV(_ cells: (String) -> String?) -> Result<NewGrantJob, FieldError> {
        func cell(_ key: String) -> String? {
            guard let value = cells(key)?.trimmingSpaces(), !value.isEmpty else { return nil }
            return value
        }
        func list(_ key: String) -> [String] {
            guard let value = cell(key) else { return [] }
            return value.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "|" || $0 == "," })
                .map { $0.trimmingSpaces() }
        }
        func integer(_ key: String) throws(FieldError) -> Int? {
            guard let value = cell(key) else { return nil }
            guard let integer = Int(value) else { throw FieldError("\(key) must be an integer") }
            return integer
        }
        do throws(FieldError) {
            guard let userID = cells("opt_user_id") else { throw FieldError("opt_user_id is required") }
            return .success(try makeJob(
                toCorpIds: list("to_corp_ids"), optUserId: userID, fields: list("fields"),
                idempotencyKey: cell("idempotency_key"), orderingKey: cell("ordering_key"),
                priority: try integer("priority"), runAt: cell("run_at"), maxAttempts: try integer("max_attempts"),
                app: cell("app"), traceparent: cell("traceparent")))
        } catch {
            return .failure(error)
        }
    }

    static func makeJob(
        toCorpIds: [String], optUserId: String, fields: [String], idempotencyKey: String?, orderingKey: String?,
        priority: Int?, runAt: String?, maxAttempts: Int?, app: String?, traceparent: String?
    ) throws(FieldError) -> NewGrantJob {
        var job = NewGrantJob(toCorpIds: toCorpIds, optUserId: optUserId, fields: fields,
                              idempotencyKey: idempotencyKey, orderingKey: orderingKey, app: app ?? GrantApp.defaultName,
                              traceparent: traceparent)
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
