import ArgumentParser
import Foundation
import Logging
import Postgres

/// Flags every database command shares.
struct CommonOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "libpq conninfo or URI of the queue database. (env: DATABASE_URL; libpq's PG* variables also apply)",
            valueName: "url"
        )
    )
    var databaseURL: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. (env: LOG_LEVEL)")
    var logLevel: String?

    func makeLogger(label: String = "visibility-worker") throws -> Logger {
        try Self.makeLogger(level: logLevel, label: label)
    }

    /// A logger at `level`, else LOG_LEVEL, else info.
    static func makeLogger(level: String?, label: String = "visibility-worker") throws -> Logger {
        let name = level ?? ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info"
        guard let level = Logger.Level(rawValue: name.lowercased()) else {
            throw ValidationError("--log-level / LOG_LEVEL: unknown level '\(name)'")
        }
        LoggingBootstrap.once()
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }

    func connect(logger: Logger) throws -> PostgresConnection {
        let conninfo = databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"]
        return try PostgresConnection(configuration: PostgresConfiguration(conninfo: conninfo), logger: logger)
    }
}

/// swift-log may be bootstrapped once per process.
enum LoggingBootstrap {
    private static let done: Void = LoggingSystem.bootstrap { label in StreamLogHandler.standardError(label: label) }
    static func once() { _ = done }
}
