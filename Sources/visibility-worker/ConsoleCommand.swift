import ArgumentParser
import Console
import DingTalk
import Foundation
import GrantQueue

struct ConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Serve the operator console in the browser: overview, jobs, retry and cancel.",
        discussion: """
            The console reads the queue through the same database settings as the other
            commands. Log in with the token from VISIBILITY_CONSOLE_TOKEN (or the file
            named by VISIBILITY_CONSOLE_TOKEN_FILE); it buys an HttpOnly session cookie.
            Without a token the console serves loopback only and asks no login. It
            refuses to start on any other address without one. --read-only hides and
            refuses retry and cancel.

            Examples:
              visibility-worker console                     # http://127.0.0.1:8080
              VISIBILITY_CONSOLE_TOKEN_FILE=/run/secrets/console \\
                visibility-worker console --host 0.0.0.0 --port 8080 --read-only
              # prints: listening on http://127.0.0.1:8080
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "Address to listen on. Any but loopback needs a token.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one.")
    var port = 8080

    @Flag(help: "Show the queue but offer no retry or cancel (and refuse them).")
    var readOnly = false

    @Option(help: "Longest gap between live overview refreshes.")
    var refreshInterval = "5s"

    func run() async throws {
        let logger = try common.makeLogger()
        var options = ConsoleOptions()
        options.host = host
        options.port = port
        options.readOnly = readOnly
        options.throttleCodes = DingTalkErrorCode.throttleCodes
        options.token = try Self.token()
        guard let interval = Settings.duration(refreshInterval), interval >= .seconds(1) else {
            throw ValidationError("--refresh-interval: expected a duration of at least 1s, like 5s")
        }
        options.refreshInterval = interval
        let configuration = try common.configuration()
        // Fail now, saying why, rather than on the first page.
        let queue = try GrantQueue(configuration: configuration, logger: logger)
        do {
            try SchemaMigrator.checkSchema(queue)
            queue.close()
        } catch {
            queue.close()
            throw error
        }

        let server: ConsoleServer
        do {
            server = try await ConsoleServer.start(options: options, database: configuration, logger: logger)
        } catch let error as ConsoleSetupError {
            throw CommandError(error.description)
        } catch {
            throw CommandError("cannot serve the console on \(host):\(port): \(error)")
        }
        // The first stdout line, flushed at once: scripts wait for it to learn the port.
        FileHandle.standardOutput.write(Data("listening on \(server.baseURL)\n".utf8))
        logger.notice("serving the console", metadata: ["url": "\(server.baseURL)", "read-only": "\(readOnly)",
                                                         "login": "\(options.token != nil)"])
        let signals = handleTerminationSignals { _ in server.close() }
        defer { signals.forEach { $0.cancel() } }
        try await server.waitUntilClosed()
        try? await server.shutdown()
    }

    /// From VISIBILITY_CONSOLE_TOKEN, or the first line of the file VISIBILITY_CONSOLE_TOKEN_FILE names.
    static func token() throws -> String? {
        let environment = ProcessInfo.processInfo.environment
        if let token = environment["VISIBILITY_CONSOLE_TOKEN"], !token.isEmpty {
            return token
        }
        guard let path = environment["VISIBILITY_CONSOLE_TOKEN_FILE"], !path.isEmpty else { return nil }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CommandError("VISIBILITY_CONSOLE_TOKEN_FILE: cannot read \(path)")
        }
        let token = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !token.isEmpty else { throw CommandError("VISIBILITY_CONSOLE_TOKEN_FILE: \(path) is empty") }
        return token
    }
}
