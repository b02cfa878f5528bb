import Foundation
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

    func testVersionNamesTheReleaseAndTheCommit() throws {
        let result = try runWorker(["--version"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let version = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // scripts/package injects the commit; a plain `swift build` says "unknown".
        XCTAssertNotNil(version.wholeMatch(of: /[0-9]+\.[0-9]+\.[0-9]+ \(commit [0-9a-z-]+\)/), version)
    }

    func testTheTopLevelHelpListsEveryCommand() throws {
        let help = try runWorker(["--help"]).stdout
        for command in Self.commands {
            XCTAssertTrue(help.contains("  \(command)"), "\(command) missing from --help:\n\(help)")
        }
    }
}
