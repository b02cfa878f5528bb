import FakeDingTalk
import Foundation
import GrantQueue
import HTTPServerSupport
import Logging
import Postgres
import Synchronization
import XCTest

/// Where the tests find PostgreSQL and the built binary.
enum TestEnvironment {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let migrationsDirectory = packageRoot.appendingPathComponent("sql")

    static var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }

    /// DATABASE_URL of a server the tests may create databases on. Without one the
    /// tests skip, unless VISIBILITY_WORKER_REQUIRE_DATABASE is set (scripts/test
    /// sets it), in which case they fail.
    static func databaseURL() throws -> String {
        if let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty { return url }
        if ProcessInfo.processInfo.environment["VISIBILITY_WORKER_REQUIRE_DATABASE"] != nil {
            XCTFail("DATABASE_URL is not set")
            throw PostgresError(kind: .client, message: "DATABASE_URL is not set")
        }
        throw XCTSkip("set DATABASE_URL (scripts/test does) to run the integration tests")
    }

    /// The `visibility-worker` executable (VISIBILITY_WORKER_BIN, or the debug build).
    static func workerBinary() throws -> String {
        let path = ProcessInfo.processInfo.environment["VISIBILITY_WORKER_BIN"]
            ?? packageRoot.appendingPathComponent(".build/debug/visibility-worker").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            XCTFail("visibility-worker binary not found at \(path); run swift build")
            throw PostgresError(kind: .client, message: "binary missing")
        }
        return path
    }
}

/// A fresh database on the test server, dropped at the end of the test.
final class TestDatabase {
    let name: String
    let configuration: PostgresConfiguration
    private let admin: PostgresConnection

    /// Creates the database; with `migrated`, applies sql/ to it.
    init(migrated: Bool = true) throws {
        let url = try TestEnvironment.databaseURL()
        admin = try PostgresConnection(configuration: PostgresConfiguration(conninfo: url, applicationName: "visibility-worker-tests"),
                                       logger: TestEnvironment.logger)
        name = "vw_test_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        try admin.query("CREATE DATABASE \(name)")
        // Tests connect under their own name, so attacks on the workers' sessions spare them.
        configuration = PostgresConfiguration(conninfo: url, overrides: ["dbname": name], applicationName: "visibility-worker-tests")
        if migrated {
            let migrator = try SchemaMigrator(directory: TestEnvironment.migrationsDirectory, logger: TestEnvironment.logger)
            try migrator.migrate(try connect())
        }
    }

    func connect(logger: Logger = TestEnvironment.logger) throws -> PostgresConnection {
        try PostgresConnection(configuration: configuration, logger: logger)
    }

    /// A conninfo string for child processes (which then connect as `visibility-worker`).
    func conninfo() throws -> String {
        var forChildren = configuration
        forChildren.applicationName = "visibility-worker"
        return try forChildren.resolvedConninfo()
    }

    func drop() {
        _ = try? admin.query("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        admin.close()
    }
}

/// A test case that gets its own migrated database.
class DatabaseTestCase: XCTestCase {
    var database: TestDatabase!
    var connection: PostgresConnection!

    var migrateDatabase: Bool { true }

    override func setUpWithError() throws {
        database = try TestDatabase(migrated: migrateDatabase)
        connection = try database.connect()
    }

    private var fakeServers: [FakeDingTalkServer] = []

    override func tearDown() {
        ChildProcess.killAll()
        if !fakeServers.isEmpty {
            let done = DispatchSemaphore(value: 0)
            let servers = fakeServers
            Task {
                for server in servers { try? await server.shutdown() }
                done.signal()
            }
            done.wait()
            fakeServers = []
        }
        connection?.close()
        database?.drop()
        connection = nil
        database = nil
    }

    /// Starts the fake API in this process for the test (over HTTPS with `tls`); it is shut down in `tearDown`.
    func startFake(tls: HTTPServer.TLS? = nil, _ configure: (inout FakeDingTalkOptions) throws -> Void = { _ in }) async throws -> FakeDingTalkServer {
        var options = FakeDingTalkOptions()
        try configure(&options)
        let server = try await FakeDingTalkServer.start(options: options, threads: 1, tls: tls)
        fakeServers.append(server)
        return server
    }

    /// What a worker process needs to reach this test's database and `server`
    /// (with the app's credentials, or `secret` instead of the right one).
    func workerEnvironment(_ server: FakeDingTalkServer, secret: String? = nil) throws -> [String: String] {
        try databaseEnvironment().merging([
            "DINGTALK_BASE_URL": server.baseURL,
            "DINGTALK_APP_KEY": server.state.options.appKey,
            "DINGTALK_APP_SECRET": secret ?? server.state.options.appSecret,
        ]) { $1 }
    }

    /// The single number a `SELECT count(*) …` returns.
    func count(_ sql: String = "SELECT count(*) FROM visibility_grant_jobs", _ parameters: [any PostgresEncodable] = []) throws -> Int {
        try XCTUnwrap(connection.query(sql, parameters).first).decode(0, as: Int.self)
    }

    /// What any command needs to reach this test's database.
    func databaseEnvironment() throws -> [String: String] {
        ["DATABASE_URL": try database.conninfo()]
    }

    /// The done notifications `listener` has received (it LISTENs to the done channel),
    /// up to a marker this sends after them, so none still in flight is missed.
    func donePayloads(on listener: PostgresConnection) throws -> [String] {
        try connection.query("SELECT pg_notify($1, 'marker')", [GrantQueue.doneChannel])
        var payloads: [String] = []
        while !payloads.contains("marker") {
            let batch = try listener.waitForNotifications(timeout: .seconds(5))
            XCTAssertFalse(batch.isEmpty, "the marker did not arrive")
            if batch.isEmpty { break }
            payloads += batch.map(\.payload)
        }
        return payloads.filter { $0 != "marker" }
    }

    /// Inserts `count` pending jobs with plain SQL (as a producer would).
    /// Lets this session's hand-made claims (rows set to running in SQL) through the
    /// claim fence of sql/018, as a claim of a build that knows the schema's gate.
    func claimByHandAsACurrentBuild() throws {
        try connection.query("""
            SELECT set_config('visibility.worker_schema', oldest_worker_schema::text, false)
            FROM visibility_schema_compatibility
            """)
    }

    func insertJobs(_ count: Int, on connection: PostgresConnection? = nil) throws {
        try (connection ?? self.connection).query(
            "INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id) SELECT ARRAY['ding' || g], 'user' || g FROM generate_series(1, $1) AS g",
            [count]
        )
    }
}

/// The outcome of a child process.
struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the worker binary with `arguments` and waits for it (bounded by `timeout`).
@available(*, noasync, message: "blocks a cooperative thread; use the async runWorker")
func runWorker(_ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil,
               timeout: Duration = .seconds(60)) throws -> ProcessResult {
    let process = try startWorker(arguments, environment: environment, stdin: stdin)
    return try process.wait(timeout: timeout)
}

/// The same for async tests: no thread is blocked while the process runs.
func runWorker(_ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil,
               timeout: Duration = .seconds(60)) async throws -> ProcessResult {
    let process = try startWorker(arguments, environment: environment, stdin: stdin)
    return try await process.wait(timeout: timeout)
}

/// A running child process whose output is collected to temporary files.
final class ChildProcess {
    let process = Process()
    private let exited = DispatchSemaphore(value: 0)
    /// Set when the process has exited, for async waits (which must not block on `exited`).
    private let hasExited = ExitFlag()
    private let stdoutURL: URL
    private let stderrURL: URL

    init(executable: String, arguments: [String], environment: [String: String], stdin: Data?) throws {
        let directory = FileManager.default.temporaryDirectory
        stdoutURL = directory.appendingPathComponent("vw-\(UUID().uuidString).out")
        stderrURL = directory.appendingPathComponent("vw-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        if let stdin {
            let input = directory.appendingPathComponent("vw-\(UUID().uuidString).in")
            try stdin.write(to: input)
            process.standardInput = try FileHandle(forReadingFrom: input)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        let exited = self.exited
        let hasExited = self.hasExited
        process.terminationHandler = { process in
            ChildProcess.running.withLock { _ = $0.remove(process.processIdentifier) }
            hasExited.set()
            exited.signal()
        }
        try process.run()
        ChildProcess.running.withLock { _ = $0.insert(process.processIdentifier) }
    }

    /// Every child still running, so that a test that throws between starting one and
    /// waiting for it does not leave it behind (`killAll()` in `tearDown`).
    private static let running = Mutex<Set<Int32>>([])

    static func killAll() {
        for pid in running.withLock({ $0 }) { kill(pid, SIGKILL) }
    }

    /// What the process has written to standard output so far.
    var stdoutSoFar: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    var stderrSoFar: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    /// SIGTERM, then the result (bounded by `timeout`).
    @available(*, noasync, message: "blocks a cooperative thread; use the async stop")
    func stop(timeout: Duration = .seconds(30)) throws -> ProcessResult {
        process.terminate()
        return try wait(timeout: timeout)
    }

    /// The same for async tests.
    func stop(timeout: Duration = .seconds(30)) async throws -> ProcessResult {
        process.terminate()
        return try await wait(timeout: timeout)
    }

    @available(*, noasync, message: "blocks a cooperative thread; use the async wait")
    func wait(timeout: Duration) throws -> ProcessResult {
        if exited.wait(timeout: .now() + timeout.seconds) == .timedOut {
            process.terminate()
            XCTFail("process \(process.arguments ?? []) did not finish within \(timeout)")
            exited.wait()
        }
        return collect()
    }

    /// The same for async tests: checks every 20 ms, so no thread is blocked while it runs.
    /// Past `timeout` the process is sent SIGTERM, and SIGKILL if that is not enough.
    func wait(timeout: Duration) async throws -> ProcessResult {
        if try await !exits(within: timeout) {
            process.terminate()
            XCTFail("process \(process.arguments ?? []) did not finish within \(timeout)")
            if try await !exits(within: .seconds(30)) { kill(process.processIdentifier, SIGKILL) }
            _ = try await exits(within: .seconds(30))
        }
        return collect()
    }

    private func exits(within timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !hasExited.isSet {
            guard ContinuousClock.now < deadline else { return false }
            try await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// The exit status and all the process wrote; its output files are removed.
    private func collect() -> ProcessResult {
        process.waitUntilExit()
        let out = (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: stdoutURL)
        try? FileManager.default.removeItem(at: stderrURL)
        return ProcessResult(status: process.terminationStatus, stdout: out, stderr: err)
    }
}

/// Whether a child process has exited, shared with its termination handler.
private final class ExitFlag: Sendable {
    private let value = Atomic(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

func startWorker(_ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil) throws -> ChildProcess {
    try ChildProcess(executable: try TestEnvironment.workerBinary(), arguments: arguments, environment: environment, stdin: stdin)
}

extension XCTestCase {
    /// Waits until `condition` holds, checking every 50 ms; fails the test after `timeout`.
    @available(*, noasync, message: "blocks a cooperative thread; use the async waitUntil")
    func waitUntil(timeout: Duration, _ what: String, _ condition: () throws -> Bool) throws {
        let deadline = ContinuousClock.now + timeout
        while try !condition() {
            guard ContinuousClock.now < deadline else { return XCTFail("timed out waiting for \(what)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// The same for async tests (no thread is blocked while waiting). A condition that
    /// does not await picks this one too, rather than the blocking one, in an async test.
    func waitUntil(timeout: Duration, _ what: String, _ condition: () throws -> Bool) async throws {
        try await waitUntil(timeout: timeout, what) { () async throws -> Bool in try condition() }
    }

    /// The same for async conditions.
    func waitUntil(timeout: Duration, _ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { return XCTFail("timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
