import Foundation
import Postgres
import Synchronization
import XCTest

/// Every database wait is bounded: statements by the configured timeout, all
/// waits by a shared cutoff; values that libpq would cut short are refused.
final class PostgresTimeoutTests: DatabaseTestCase {
    override var migrateDatabase: Bool { false }

    private func connect(timeout: Duration?, cutoff: PostgresCutoff? = nil,
                         poolMode: PostgresConfiguration.PoolMode = .session) throws -> PostgresConnection {
        var configuration = database.configuration
        configuration.timeout = timeout
        configuration.cutoff = cutoff
        configuration.poolMode = poolMode
        return try PostgresConnection(configuration: configuration, logger: TestEnvironment.logger)
    }

    private func sleepersRunning() throws -> Int {
        try count("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep(60)%' AND pid <> pg_backend_pid()")
    }

    func testAStatementPastTheTimeoutIsCancelledAndTheSessionReplaced() throws {
        let slow = try connect(timeout: .milliseconds(300))
        defer { slow.close() }
        let oldPID = slow.backendPID
        let started = ContinuousClock.now
        XCTAssertThrowsError(try slow.query("SELECT pg_sleep(60)")) { error in
            let error = error as? PostgresError
            XCTAssertEqual(error?.kind, .timeout)
            XCTAssertEqual(error?.isConnectionFailure, true, "a timeout is treated as the database being unavailable")
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(30), "gave up long before the statement would have ended")
        // The server was asked to cancel it: it does not run on for a minute.
        try waitUntil(timeout: .seconds(20), "the server to end the cancelled statement") { try self.sleepersRunning() == 0 }
        // The next statement runs on a new session.
        XCTAssertEqual(try slow.query("SELECT 1").first?.decode(0, as: Int.self), 1)
        XCTAssertNotEqual(slow.backendPID, oldPID)
        XCTAssertEqual(slow.reconnectCount, 1)
    }

    func testACutoffEndsAWaitInProgressAndRefusesLaterStatements() throws {
        let cutoff = PostgresCutoff()
        var configuration = database.configuration
        configuration.timeout = nil
        configuration.cutoff = cutoff
        // A connection belongs to one thread: this one is opened and used on the waiting thread.
        let waiting = DispatchSemaphore(value: 0)
        let outcomes = Mutex<[PostgresError.Kind?]>([])
        Thread.detachNewThread { [configuration] in
            do {
                let slow = try PostgresConnection(configuration: configuration, logger: TestEnvironment.logger)
                defer { slow.close() }
                for sql in ["SELECT pg_sleep(60)", "SELECT 1"] {
                    do { try slow.query(sql); outcomes.withLock { $0.append(nil) } } catch {
                        outcomes.withLock { $0.append((error as? PostgresError)?.kind) }
                    }
                }
            } catch {
                outcomes.withLock { $0.append(.client) }
            }
            waiting.signal()
        }
        try waitUntil(timeout: .seconds(20), "the statement to start") { try self.sleepersRunning() == 1 }
        cutoff.set(.now)
        XCTAssertEqual(waiting.wait(timeout: .now() + 20), .success, "the cutoff ended the wait")
        XCTAssertEqual(outcomes.withLock { $0 }, [.timeout, .timeout], "the wait ended, and nothing more was sent past the cutoff")
        XCTAssertThrowsError(try PostgresConnection(configuration: configuration)) { error in
            XCTAssertEqual((error as? PostgresError)?.kind, .timeout, "nor is a connection opened")
        }
    }

    func testANULByteIsRefusedInsteadOfCuttingTheValueShort() throws {
        try connection.query("CREATE TABLE kept (v text)")
        XCTAssertThrowsError(try connection.query("INSERT INTO kept VALUES ($1)", ["before\u{0}after"])) { error in
            let error = error as? PostgresError
            XCTAssertEqual(error?.kind, .client)
            XCTAssertTrue(error?.message.contains("$1 contains a NUL byte") == true, "\(String(describing: error))")
        }
        XCTAssertThrowsError(try connection.copyFrom("COPY kept (v) FROM STDIN", rows: [["fine"], ["bad\u{0}value"]])) { error in
            XCTAssertTrue((error as? PostgresError)?.message.contains("NUL byte") == true, "\(error)")
        }
        XCTAssertEqual(try count("SELECT count(*) FROM kept"), 0, "nothing, not a shortened value, was stored")
        // The connection is fine afterwards.
        XCTAssertEqual(try connection.copyFrom("COPY kept (v) FROM STDIN", rows: [["fine"]]), 1)
    }

    func testTransactionPoolModeKeepsNothingInTheSession() throws {
        let pooled = try connect(timeout: .seconds(15), poolMode: .transaction)
        defer { pooled.close() }
        let statement = PostgresStatement(name: "add_one", sql: "SELECT $1::int + 1")
        XCTAssertEqual(try pooled.query(statement, [41]).first?.decode(0, as: Int.self), 42)
        XCTAssertEqual(try pooled.query("SELECT count(*) FROM pg_prepared_statements").first?.decode(0, as: Int.self), 0,
                       "sent unnamed: nothing prepared stays behind for the next client of a pooled session")
        XCTAssertEqual(try pooled.query("SHOW TimeZone").first?.decode(0, as: String.self),
                       try connection.query("SELECT reset_val FROM pg_settings WHERE name = 'TimeZone'").first?.decode(0, as: String.self),
                       "nothing was SET")
        XCTAssertThrowsError(try pooled.listen("anything")) { error in
            XCTAssertTrue("\(error)".contains("transaction pool mode"), "\(error)")
        }
        // Timestamps still parse: ISO output carries the offset.
        let now = try pooled.query("SELECT now()").first?.decode(0, as: Date.self)
        XCTAssertLessThan(abs(now?.timeIntervalSinceNow ?? 99), 60)
    }

    func testTheURLsOwnNetworkSettingsWinOverTheDefaults() throws {
        let defaults = try connect(timeout: .seconds(15))
        defer { defaults.close() }
        XCTAssertEqual(defaults.setting("connect_timeout"), "5")
        XCTAssertEqual(defaults.setting("keepalives_idle"), "10")
        XCTAssertEqual(defaults.setting("tcp_user_timeout"), "15000")

        var configuration = database.configuration
        let url = try XCTUnwrap(configuration.conninfo)
        configuration.conninfo = url + (url.contains("?") ? "&" : "?") + "connect_timeout=9&keepalives_idle=77&tcp_user_timeout=1234"
        let own = try PostgresConnection(configuration: configuration, logger: TestEnvironment.logger)
        defer { own.close() }
        XCTAssertEqual(own.setting("connect_timeout"), "9")
        XCTAssertEqual(own.setting("keepalives_idle"), "77")
        XCTAssertEqual(own.setting("tcp_user_timeout"), "1234")
    }
}
