import ArgumentParser
import Foundation
import GrantQueue

struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the sql/ migrations that are not applied yet.",
        discussion: """
            Each file is applied once, in its own transaction, under an advisory lock:
            running `migrate` from several hosts at once is safe.

            Example:
              DATABASE_URL=postgresql://admin@db.internal/grants visibility-worker migrate
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "Folder of NNN_name.sql files. (env: VISIBILITY_WORKER_MIGRATIONS_DIR; default: the sql/ beside the executable)")
    var migrationsDir: String?

    func run() throws {
        let logger = try common.makeLogger()
        let directory = try SchemaMigrator.locateDirectory(
            explicit: migrationsDir ?? ProcessInfo.processInfo.environment["VISIBILITY_WORKER_MIGRATIONS_DIR"],
            // The real file, not argv[0]: a bare name found through PATH must still find the sql/ beside it.
            executablePath: Bundle.main.executableURL?.path ?? CommandLine.arguments[0]
        )
        let migrator = try SchemaMigrator(directory: directory, logger: logger)
        let connection = try common.connect(logger: logger, defaultTimeout: nil)
        let applied = try migrator.migrate(connection)
        if applied.isEmpty {
            print("schema is up to date (\(migrator.migrations.count) migrations)")
        } else {
            print("applied \(applied.count) migration\(applied.count == 1 ? "" : "s"): \(applied.joined(separator: ", "))")
        }
    }
}
