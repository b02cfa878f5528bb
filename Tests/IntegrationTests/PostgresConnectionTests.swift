import Foundation
import Logging
import Postgres
import Synchronization
import XCTest

final class PostgresConnectionTests: DatabaseTestCase {
    override var migrateDatabase: Bool { false }

    func testConnectionFailureGivesLibpqsMessageWithoutThePassword() throws {
        let configuration = PostgresConfiguration(conninfo: "postgresql://someone:hunter2secret@127.0.0.1:1/db?connect_timeout=2")
        XCTAssertThrowsError(try PostgresConnection(configuration: configuration)) { error in
            guard let error = error as? PostgresError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.kind, .connection)
            XCTAssertTrue(error.isConnectionFailure)
            XCTAssertTrue(error.message.contains("127.0.0.1"), error.message)
            XCTAssertFalse("\(error)".contains("hunter2secret"))
            XCTAssertFalse(String(reflecting: error).contains("hunter2secret"))
        }
    }

    func testServerErrorsCarrySQLStateButDescriptionsLeakNoData() throws {
        try connection.query("CREATE TABLE t (v text CONSTRAINT v_must_be_short CHECK (length(v) < 5))")
        XCTAssertThrowsError(try connection.query("INSERT INTO t VALUES ($1)", ["secret-value-123"])) { error in
            guard let error = error as? PostgresError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.kind, .server)
            XCTAssertEqual(error.sqlState, "23514")
            XCTAssertEqual(error.constraint, "v_must_be_short")
            XCTAssertEqual(error.table, "t")
            XCTAssertFalse(error.isConnectionFailure)
            XCTAssertTrue("\(error)".contains("v_must_be_short"))
            XCTAssertFalse("\(error)".contains("secret-value-123"), "description leaked the row: \(error)")
            XCTAssertTrue(error.debugDescription.contains("secret-value-123"), "the details belong in debugDescription")
        }
        XCTAssertThrowsError(try connection.query("SELEC 1")) { error in
            XCTAssertEqual((error as? PostgresError)?.sqlState, "42601")
        }
        // The connection is still usable after errors.
        XCTAssertEqual(try connection.query("SELECT 1").first?.decode(0, as: Int.self), 1)
    }

    func testReconnectsAfterTheBackendIsTerminated() throws {
        let listening = "reconnect_test"
        try connection.listen(listening)
        let statement = PostgresStatement(name: "add_one", sql: "SELECT $1::int + 1")
        XCTAssertEqual(try connection.query(statement, [1]).first?.decode(0, as: Int.self), 2)
        let oldPID = connection.backendPID

        let killer = try database.connect()
        let terminated = try killer.query("SELECT pg_terminate_backend($1, 5000)", [oldPID])
        XCTAssertEqual(try terminated.first?.decode(0, as: Bool.self), true)

        // The next call succeeds on a new session, and the prepared statement works there too.
        XCTAssertEqual(try connection.query(statement, [41]).first?.decode(0, as: Int.self), 42)
        XCTAssertNotEqual(connection.backendPID, oldPID)
        XCTAssertEqual(connection.reconnectCount, 1)

        // LISTEN was restored on the new session.
        try killer.query("SELECT pg_notify($1, 'after reconnect')", [listening])
        let notifications = try connection.waitForNotifications(timeout: .seconds(5))
        XCTAssertEqual(notifications.map(\.payload), ["after reconnect"])
    }

    func testNoticesGoToTheLogger() throws {
        let recorder = RecordingLogHandler()
        var logger = Logger(label: "notice-test") { _ in recorder }
        logger.logLevel = .debug
        let connection = try database.connect(logger: logger)
        defer { connection.close() }
        try connection.query("DO $$ BEGIN RAISE WARNING 'disk almost full'; RAISE NOTICE 'routine note'; END $$")
        let messages = recorder.messages
        XCTAssertTrue(messages.contains { $0.level == .warning && $0.message == "disk almost full" }, "\(messages)")
        XCTAssertTrue(messages.contains { $0.level == .debug && $0.message == "routine note" }, "\(messages)")
    }
}

/// Collects log lines for assertions. A value type, as swift-log expects; the
/// lines go to a shared, locked store.
struct RecordingLogHandler: LogHandler {
    struct Entry: Sendable {
        let level: Logger.Level
        let message: String
    }

    private let storage = Store()
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    var messages: [Entry] { storage.entries.withLock { $0 } }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        storage.entries.withLock { $0.append(Entry(level: event.level, message: "\(event.message)")) }
    }

    private final class Store: Sendable {
        let entries = Mutex<[Entry]>([])
    }
}
