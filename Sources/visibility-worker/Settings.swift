import ArgumentParser
import Foundation
import Postgres

/// Reads a setting from its flag or, failing that, its environment variable,
/// and names whichever one was wrong.
enum Settings {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The flag's text, else the environment variable's; empty counts as unset.
    static func string(_ flag: String?, env: String) -> String? {
        (flag ?? environment[env]).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// An ISO 8601 timestamp from a flag, or a message naming the flag.
    static func timestamp(_ text: String, flag: String) throws -> Date {
        do {
            return try PostgresTimestamp.parse(text)
        } catch {
            throw ValidationError("\(flag): expected a timestamp like 2026-11-25T14:40:00Z")
        }
    }

    static func value<T>(_ flag: String?, flagName: String, env: String, parse: (String) -> T?) throws -> T? {
        if let flag {
            guard let value = parse(flag) else { throw ValidationError("\(flagName): cannot understand '\(flag)'") }
            return value
        }
        if let text = environment[env], !text.isEmpty {
            guard let value = parse(text) else { throw ValidationError("\(env): cannot understand '\(text)'") }
            return value
        }
        return nil
    }

    /// `500ms`, `30s`, `5m`, `2h`, `7d`; a bare number is seconds. At most a year.
    static func duration(_ text: String) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        let (number, scale) = units.first { trimmed.hasSuffix($0.0) }
            .map { (Double(trimmed.dropLast($0.0.count)), $0.1) } ?? (Double(trimmed), 1)
        // Bounded before converting: a huge number must be refused, not trap.
        guard let number, number >= 0, number * scale <= 366 * 86_400 else { return nil }
        return .milliseconds(Int64((number * scale * 1000).rounded()))
    }
}
