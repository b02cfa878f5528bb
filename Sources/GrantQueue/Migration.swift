import Foundation

/// One numbered file of `sql/`, e.g. `001_grant_jobs.sql`.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// Lines equal to this split off statements that run after the file's transaction.
    public static let afterCommitMarker = "-- migrate: after commit"

    private var parts: [String] {
        var parts = [""]
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces) == Self.afterCommitMarker {
                parts.append("")
            } else {
                parts[parts.count - 1] += line + "\n"
            }
        }
        return parts
    }

    /// What runs in the file's transaction.
    public var transactionalPart: String { parts[0] }

    /// One statement each, run after the commit, outside any transaction.
    public var afterCommitStatements: [String] { Array(parts.dropFirst()) }

    /// FNV-1a of the text: lets `migrate` notice a file edited after it was applied.
    public var checksum: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sql.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}

/// What one statement after a migration's commit does to an index, read from its
/// text, so that `migrate` can tell a half-built (INVALID) index from one it
/// meant to build and build it again.
public enum IndexStep: Equatable, Sendable {
    case create(index: String)
    case drop(index: String)

    public init?(statement: String) {
        let words = Migration.withoutComments(statement)
            .split(whereSeparator: { $0.isWhitespace || $0 == "(" || $0 == ";" })
            .map(String.init)
        let upper = words.map { $0.uppercased() }
        if upper.starts(with: ["CREATE", "INDEX", "CONCURRENTLY", "IF", "NOT", "EXISTS"]), words.count > 6 {
            self = .create(index: words[6])
        } else if upper.starts(with: ["CREATE", "UNIQUE", "INDEX", "CONCURRENTLY", "IF", "NOT", "EXISTS"]), words.count > 7 {
            self = .create(index: words[7])
        } else if upper.starts(with: ["DROP", "INDEX", "CONCURRENTLY", "IF", "EXISTS"]), words.count > 5 {
            self = .drop(index: words[5])
        } else {
            return nil
        }
    }
}

extension Migration {
    /// The text without `--` comments (whole lines or line ends), for reading what a statement does.
    static func withoutComments(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { line in line.range(of: "--").map { String(line[..<$0.lowerBound]) } ?? String(line) }
            .joined(separator: "\n")
    }
}

/// Something is wrong with the migrations themselves (not with the database).
public struct MigrationError: Error, Sendable, CustomStringConvertible {
    public let description: String

    public init(description: String) {
        self.description = description
    }
}
