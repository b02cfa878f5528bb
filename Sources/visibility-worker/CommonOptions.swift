import ArgumentParser
import Foundation
import Synchronization
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

    @OptionGroup var logging: LoggingOptions

    func makeLogger() throws -> Logger {
        try logging.makeLogger()
    }

    /// `--database-url`, else `DATABASE_URL`, else libpq's own defaults.
    var configuration: PostgresConfiguration {
        PostgresConfiguration(conninfo: databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"])
    }

    func connect(logger: Logger) throws -> PostgresConnection {
        try PostgresConnection(configuration: configuration, logger: logger)
    }
}

/// How and how much a command logs (always to standard error).
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. (env: LOG_LEVEL; default info)")
    var logLevel: String?

    @Option(help: "Log lines as text (for people) or json (one object per line, for log shippers). (env: LOG_FORMAT; default text)")
    var logFormat: String?

    func makeLogger() throws -> Logger {
        let environment = ProcessInfo.processInfo.environment
        let levelName = logLevel ?? environment["LOG_LEVEL"] ?? "info"
        guard let level = Logger.Level(rawValue: levelName.lowercased()) else {
            throw ValidationError("--log-level / LOG_LEVEL: unknown level '\(levelName)'")
        }
        let formatName = Settings.string(logFormat, env: "LOG_FORMAT") ?? "text"
        guard let format = LogFormat(rawValue: formatName.lowercased()) else {
            throw ValidationError("--log-format / LOG_FORMAT: expected text or json, not '\(formatName)'")
        }
        LoggingBootstrap.once(format: format)
        var logger = Logger(label: "visibility-worker")
        logger.logLevel = level
        return logger
    }
}

enum LogFormat: String {
    case text, json
}

/// swift-log may be bootstrapped once per process; the first format asked for wins.
enum LoggingBootstrap {
    private static let done = Mutex(false)

    static func once(format: LogFormat) {
        done.withLock { done in
            guard !done else { return }
            done = true
            switch format {
            case .text: LoggingSystem.bootstrap { label in StreamLogHandler.standardError(label: label) }
            case .json: LoggingSystem.bootstrap { label in JSONLogHandler(label: label) }
            }
        }
    }
}
