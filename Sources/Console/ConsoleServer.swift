import Foundation
import HTTPServerSupport
import Logging
import Postgres

/// `visibility-worker console`: the operator console over HTTP. Pages are
/// rendered here from the queue (GrantQueue's console verbs); the style sheet
/// and script are compiled in (`ConsoleAssets`), so nothing is fetched at run time.
public final class ConsoleServer: Sendable {
    private let server: HTTPServer
    private let database: ConsoleDatabase
    private let events: ConsoleEvents
    /// e.g. `http://127.0.0.1:8080`
    public var baseURL: String { server.baseURL }

    private init(server: HTTPServer, database: ConsoleDatabase, events: ConsoleEvents) {
        self.server = server
        self.database = database
        self.events = events
    }

    /// Refuses a non-loopback address without a token, then serves until `shutdown()`.
    public static func start(options: ConsoleOptions, database configuration: PostgresConfiguration,
                             logger: Logger) async throws -> ConsoleServer {
        if options.token == nil && !isLoopback(options.host) {
            throw ConsoleSetupError(
                "refusing to serve the console on \(options.host) without a token: set VISIBILITY_CONSOLE_TOKEN or VISIBILITY_CONSOLE_TOKEN_FILE, or use --host 127.0.0.1")
        }
        if let token = options.token, token.count < 16 {
            throw ConsoleSetupError("the console token is too short: use at least 16 characters (e.g. `openssl rand -hex 32`)")
        }
        let database = ConsoleDatabase(configuration: configuration, logger: logger, threads: options.connections)
        let events = ConsoleEvents(configuration: configuration, interval: options.refreshInterval, logger: logger)
        let app = ConsoleApp(options: options, database: database, events: events, logger: logger)
        let server = try await HTTPServer.start(host: options.host, port: options.port, threads: 1) {
            HTTPRequestHandler(maxBody: ConsoleResponder.maxBody, responder: ConsoleResponder(app: app))
        }
        database.start()
        events.start()
        return ConsoleServer(server: server, database: database, events: events)
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Stops listening; `waitUntilClosed()` then returns. Safe from a signal handler.
    public func close() {
        server.close()
    }

    public func waitUntilClosed() async throws {
        try await server.waitUntilClosed()
    }

    public func shutdown() async throws {
        events.stop()
        database.stop()
        try await server.shutdown()
    }
}
