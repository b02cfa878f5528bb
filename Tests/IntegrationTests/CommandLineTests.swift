import Foundation
import GrantQueue
import XCTest

/// What a new user meets first: every command explains itself with an example.
final class CommandLineTests: XCTestCase {
    static let commands = ["migrate", "enqueue", "status", "run", "retry", "cancel", "prune", "apply", "apps", "wait", "fake-dingtalk"]

    func testEveryCommandsHelpHasAnExample() throws {
        for command in [""] + Self.commands {
            let result = try runWorker(command.isEmpty ? ["--help"] : [command, "--help"])
            XCTAssertEqual(result.status, 0, "\(command) --help: \(result.stderr)")
            let help = result.stdout + result.stderr
            XCTAssertTrue(help.contains("Example"), "\(command) --help has no example:\n\(help)")
            XCTAssertTrue(help.contains("visibility-worker \(command)"), "\(command) --help shows no command line:\n\(help)")
        }
    }

    func testVersionNamesTheReleaseTheCommitAndTheSchemas() throws {
        let result = try runWorker(["--version"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let required = SchemaMigrator.requiredVersion
        // scripts/package injects the commit; a plain `swift build` says "unknown". The
        // first line's shape is a contract: scripts and operators parse it.
        XCTAssertNotNil(lines.first?.wholeMatch(
            of: /[0-9]+\.[0-9]+\.[0-9]+ \(commit [0-9a-z-]+; requires migration [0-9]+, accepts schemas [0-9]+\+\)/), result.stdout)
        XCTAssertTrue(lines.first?.hasSuffix("; requires migration \(required), accepts schemas \(required)+)") == true, result.stdout)
        XCTAssertEqual(lines.dropFirst().first,
                       "runs against a schema migrated to \(required) or later; refused by one whose oldest_worker_schema is above \(required)")
    }

    /// A release's number changes when the migration it requires does: docs/OPERATIONS.md
    /// lists each release with its migration, and this build must be its last row.
    func testTheReleaseNumberChangesWithTheRequiredMigration() throws {
        let version = try runWorker(["--version"]).stdout
        let number = String(version.prefix { $0 != " " })
        let operations = try String(contentsOf: TestEnvironment.packageRoot.appendingPathComponent("docs/OPERATIONS.md"), encoding: .utf8)
        let rows = operations.split(separator: "\n").compactMap { line -> (String, String)? in
            guard let match = line.wholeMatch(of: /\| ([0-9]+\.[0-9]+\.[0-9]+) +\| ([0-9]+[^|]*?) +\|.*/) else { return nil }
            return (String(match.1), String(match.2))
        }
        XCTAssertEqual(rows.last?.0, number, "docs/OPERATIONS.md's release table does not end with this release")
        XCTAssertEqual(rows.last?.1, "\(SchemaMigrator.requiredVersion)",
                       "this build requires another migration than its release's row says: raise the release number")
        XCTAssertEqual(Set(rows.map { $0.0 }).count, rows.count, "a release number appears twice")
    }

    func testTheTopLevelHelpListsEveryCommand() throws {
        let help = try runWorker(["--help"]).stdout
        for command in Self.commands {
            XCTAssertTrue(help.contains("  \(command)"), "\(command) missing from --help:\n\(help)")
        }
    }

    /// Every flag of `run --help`, with the variable the help names, has its row in
    /// docs/OPERATIONS.md's table of `run` flags, and that table names no flag
    /// `run` does not have. The README points there rather than keeping a copy.
    func testEveryRunFlagIsInTheFlagTable() throws {
        let result = try runWorker(["run", "--help"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let help = result.stdout
        guard let options = help.range(of: "OPTIONS:") else { return XCTFail("no OPTIONS in run --help:\n\(help)") }
        // One entry per flag: its first line starts with two spaces and "--"; the
        // variable, if any, is in "(env: NAME" somewhere in the entry's text.
        var helpFlags: [String: String?] = [:]
        for entry in help[options.upperBound...].components(separatedBy: "\n  --").dropFirst() {
            let flag = "--" + entry.prefix { $0.isLetter || $0.isNumber || $0 == "-" }
            guard flag != "--version", flag != "--help" else { continue }
            let text = entry.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            helpFlags.updateValue(text.firstMatch(of: /\(env: ([A-Z_]+)/).map { String($0.1) }, forKey: flag)
        }
        XCTAssertGreaterThan(helpFlags.count, 20, "run --help was not read as expected:\n\(help)")

        let operations = try String(contentsOf: TestEnvironment.packageRoot.appendingPathComponent("docs/OPERATIONS.md"),
                                    encoding: .utf8)
        guard let start = operations.range(of: "### Every `run` flag") else { return XCTFail("docs/OPERATIONS.md has no table of run flags") }
        var tableFlags: [String: String] = [:]
        for line in operations[start.upperBound...].split(separator: "\n").drop(while: { !$0.hasPrefix("|") })
            .prefix(while: { $0.hasPrefix("|") }) {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 2, let flag = cells[0].firstMatch(of: /^`(--[a-z0-9-]+)/) else { continue }
            tableFlags[String(flag.1)] = cells[1]
        }
        for (flag, variable) in helpFlags.sorted(by: { $0.key < $1.key }) {
            guard let cell = tableFlags[flag] else {
                XCTFail("\(flag) (run --help) is missing from docs/OPERATIONS.md's table of run flags"); continue
            }
            if let variable {
                XCTAssertTrue(cell.contains("`\(variable)`"), "\(flag): run --help names \(variable), the table says \(cell)")
            } else {
                XCTAssertTrue(cell.hasPrefix("none"), "\(flag) has no variable, the table says \(cell)")
            }
        }
        for flag in tableFlags.keys.sorted() where !helpFlags.keys.contains(flag) {
            XCTFail("docs/OPERATIONS.md's table names \(flag), which run does not have")
        }
    }
}
