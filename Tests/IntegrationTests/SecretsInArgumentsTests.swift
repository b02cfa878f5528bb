import Foundation
import XCTest

/// A command line is readable by every user of the host (`ps`, /proc/PID/cmdline):
/// secrets come from the environment or files only. Flags that could carry one
/// refuse it (exit 2, usage) without repeating it; issue 27.
final class SecretsInArgumentsTests: DatabaseTestCase {
    private let secret = "pw-7Hq2-secret-in-argv"

    private func assertRefused(_ arguments: [String], naming names: [String], environment: [String: String] = [:],
                               file: StaticString = #filePath, line: UInt = #line) async throws {
        let result = try await runWorker(arguments, environment: environment, timeout: .seconds(20))
        XCTAssertEqual(result.status, 2, "\(arguments.first ?? ""): exit status (usage)\n\(result.stderr)", file: file, line: line)
        XCTAssertTrue(names.contains { result.stderr.contains($0) }, "\(arguments.first ?? ""): the message must name \(names):\n\(result.stderr)",
                      file: file, line: line)
        XCTAssertFalse((result.stdout + result.stderr).contains(secret), "the secret was echoed:\n\(result.stderr)", file: file, line: line)
    }

    func testCredentialsInTheProxyFlagAreRefusedNamingDINGTALK_PROXY() async throws {
        let environment = ["DINGTALK_ACCESS_TOKEN": "t", "DINGTALK_BASE_URL": "http://127.0.0.1:9", "DATABASE_URL": try database.conninfo()]
        for proxy in ["http://egress:\(secret)@127.0.0.1:3128", "egress:\(secret)@proxy.corp:3128", "http://\(secret)@proxy.corp"] {
            try await assertRefused(["run", "--proxy", proxy], naming: ["DINGTALK_PROXY"], environment: environment)
            try await assertRefused(["apply", "--corp-id", "ding1", "--opt-user-id", "u", "--proxy", proxy], naming: ["DINGTALK_PROXY"],
                                    environment: environment)
        }
        // Without credentials the flag is fine (the API is unreachable here: exit 1, not 2).
        let plain = try await runWorker(["apply", "--corp-id", "ding1", "--opt-user-id", "u", "--proxy", "http://127.0.0.1:9",
                                         "--request-timeout", "2s"], environment: environment, timeout: .seconds(30))
        XCTAssertEqual(plain.status, 1, plain.stderr)
    }

    func testAPasswordInTheDatabaseURLFlagIsRefusedNamingWhereItBelongs() async throws {
        let urls = ["postgresql://queue:\(secret)@127.0.0.1:5432/grants", "postgres://queue:\(secret)@db.internal/grants?sslmode=require",
                    "postgresql://queue@127.0.0.1/grants?password=\(secret)", "host=127.0.0.1 dbname=grants password=\(secret)",
                    "host=127.0.0.1 password = '\(secret)' dbname=grants"]
        let commands = [["migrate"], ["status"], ["run"], ["enqueue", "--corp-id", "ding1", "--opt-user-id", "u"], ["retry", "--id", "1"],
                        ["cancel", "--id", "1"], ["prune", "--older-than", "30d"], ["wait", "--id", "1"], ["apps", "list"], ["console"]]
        for command in commands {
            for url in urls {
                try await assertRefused(command + ["--database-url", url], naming: ["DATABASE_URL"])
            }
        }
        let result = try await runWorker(["status", "--database-url", urls[0]], timeout: .seconds(20))
        for name in ["DATABASE_URL", "PGPASSWORD", "PGPASSFILE"] {
            XCTAssertTrue(result.stderr.contains(name), "the message names \(name):\n\(result.stderr)")
        }
        // A URL without a password still works from the flag.
        let status = try await runWorker(["status", "--database-url", try database.conninfo()], timeout: .seconds(30))
        XCTAssertEqual(status.status, 0, status.stderr)
    }

    func testHelpTextsNoLongerSuggestASecretInAFlag() async throws {
        for command in [["run", "--help"], ["apply", "--help"], ["status", "--help"]] {
            let help = try await runWorker(command).stdout
            XCTAssertFalse(help.contains("user:pass"), "\(command[0]) --help suggests a secret in argv:\n\(help)")
            XCTAssertFalse(help.contains("@proxy"), "\(command[0]) --help suggests credentials in --proxy:\n\(help)")
        }
    }

    /// Every command, with secrets in its environment: neither its command line nor
    /// any line it logs (at trace level) shows them.
    func testSecretsFromTheEnvironmentNeverReachTheCommandLineOrALogLine() async throws {
        let appSecret = "app-\(secret)"
        let databasePassword = "db-\(secret)"
        let proxyPassword = "proxy-\(secret)"
        let server = try await startFake { $0.appSecret = appSecret }
        // The test cluster trusts local connections, so the password is carried and ignored.
        var environment = try workerEnvironment(server, secret: appSecret)
        environment["DATABASE_URL"] = (environment["DATABASE_URL"] ?? "") + " password='\(databasePassword)'"
        environment["PGPASSWORD"] = databasePassword
        environment["LOG_LEVEL"] = "trace"
        let secrets = [appSecret, databasePassword, proxyPassword]
        var outputs: [(String, String)] = []

        func check(_ arguments: [String], environment: [String: String], stopAfter: (() async throws -> Void)? = nil) async throws {
            let child = try startWorker(arguments, environment: environment)
            // Read once the child has exec'd the worker (before, /proc shows the test's own command line).
            var commandLine = Data()
            let deadline = ContinuousClock.now + .seconds(5)
            while child.process.isRunning, ContinuousClock.now < deadline {
                commandLine = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(child.process.processIdentifier)/cmdline"))) ?? Data()
                if String(decoding: commandLine, as: UTF8.self).contains("visibility-worker") { break }
                try await Task.sleep(for: .milliseconds(5))
            }
            let result: ProcessResult
            if let stopAfter {
                XCTAssertFalse(commandLine.isEmpty, "\(arguments[0]): /proc/PID/cmdline was not read")
                try await stopAfter()
                result = try await child.stop()
            } else {
                result = try await child.wait(timeout: .seconds(60))
            }
            outputs.append((arguments.joined(separator: " "), String(decoding: commandLine, as: UTF8.self) + "\n" + result.stdout + result.stderr))
        }

        try await check(["migrate"], environment: environment)
        try await check(["enqueue", "--corp-id", "ding1", "--opt-user-id", "u1", "--idempotency-key", "k1"], environment: environment)
        try await check(["run", "--poll-interval", "100ms"], environment: environment) {
            try await self.waitUntil(timeout: .seconds(30), "the job to succeed") {
                try self.count("SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded'") == 1
            }
        }
        try await check(["status", "--json"], environment: environment)
        try await check(["wait", "--idempotency-key", "k1", "--timeout", "5s"], environment: environment)
        try await check(["retry", "--id", "1"], environment: environment)
        try await check(["cancel", "--id", "99"], environment: environment)
        try await check(["prune", "--older-than", "30d"], environment: environment)
        try await check(["apps", "list"], environment: environment)
        try await check(["console", "--port", "0"], environment: environment) { try await Task.sleep(for: .milliseconds(500)) }
        // Through an egress proxy that is down, with its password in DINGTALK_PROXY: the errors name the proxy, not the password.
        var proxied = environment
        proxied["DINGTALK_PROXY"] = "http://egress:\(proxyPassword)@127.0.0.1:\(try freeLocalPort())"
        try await check(["apply", "--corp-id", "ding1", "--opt-user-id", "u", "--request-timeout", "2s"], environment: proxied)

        for (command, text) in outputs {
            for secret in secrets {
                XCTAssertFalse(text.contains(secret), "\(command): a secret reached its command line or a log line:\n\(text)")
            }
        }
        let all = outputs.map(\.1).joined()
        XCTAssertTrue(all.contains("worker started"), "the scan saw real log output")
        XCTAssertTrue(all.contains("trace") || all.contains("debug"), "the scan saw output at trace level:\n\(all)")
    }
}
