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
            "libpq conninfo or URI of the queue database, without a password (refused: argv is visible to every user); the password comes from DATABASE_URL, PGPASSWORD or PGPASSFILE. (env: DATABASE_URL; libpq's PG* variables also apply)",
            valueName: "url"
        )
    )
    var databaseURL: String?

    @Option(help: ArgumentHelp(
        "session, or transaction behind a transaction-mode pooler such as PgBouncer (no prepared statements kept, no LISTEN: new jobs are polled). (env: VISIBILITY_WORKER_POOL_MODE; default session)",
        valueName: "mode"))
    var poolMode: String?

    @Option(help: ArgumentHelp(
        "Longest wait for one database answer before the statement is cancelled and the session dropped; 0 = no limit. (env: VISIBILITY_WORKER_DB_TIMEOUT; default 15s for run, status and the repair commands, no limit for migrate and enqueue)",
        valueName: "duration"))
    var dbTimeout: String?

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        try SecretsInArguments.checkDatabaseURL(databaseURL)
    }

    func makeLogger() throws -> Logger {
        try logging.makeLogger()
    }

    /// `--database-url`, else `DATABASE_URL`, else libpq's own defaults; the
    /// timeout `defaultTimeout` unless `--db-timeout` says otherwise.
    func configuration(defaultTimeout: Duration? = .seconds(15)) throws -> PostgresConfiguration {
        let mode = try Settings.value(poolMode, flagName: "--pool-mode", env: "VISIBILITY_WORKER_POOL_MODE") {
            PostgresConfiguration.PoolMode(rawValue: $0.lowercased())
        } ?? .session
        let timeout = try Settings.value(dbTimeout, flagName: "--db-timeout", env: "VISIBILITY_WORKER_DB_TIMEOUT",
                                         parse: Settings.duration).map { $0 == .zero ? nil : $0 } ?? defaultTimeout
        return PostgresConfiguration(conninfo: databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"],
                                     poolMode: mode, timeout: timeout)
    }

    func connect(logger: Logger, defaultTimeout: Duration? = .seconds(15)) throws -> PostgresConnection {
        try PostgresConnection(configuration: configuration(defaultTimeout: defaultTimeout), logger: logger)
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
