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
        // scripts/package injects the commit; a plain `swift build` says "unknown".
        XCTAssertNotNil(lines.first?.wholeMatch(of: /[0-9]+\.[0-9]+\.[0-9]+ \(commit [0-9a-z-]+, migration [0-9]+\)/), result.stdout)
        XCTAssertTrue(lines.first?.hasSuffix(", migration \(required))") == true, result.stdout)
        XCTAssertEqual(lines.dropFirst().first,
                       "requires migration \(required) or newer; refused by a schema whose oldest_worker_schema is above \(required)")
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
}
