import ArgumentParser
import Foundation
import GrantQueue

struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the sql/ migrations that are not applied yet, or show where they stand.",
        discussion: """
            Each file is applied once, in its own transaction, under an advisory lock:
            running `migrate` from several hosts at once is safe. Workers may keep
            running: a file's statements wait at most --lock-timeout for a lock (the
            claims and inserts queued behind them wait as long); a file that cannot
            get its locks in time is rolled back, the sessions holding them are
            logged, and it is tried again until --give-up-after. Indexes are built
            CONCURRENTLY after the file's commit; a `migrate` cut off meanwhile is
            finished by the next one, and an index it left INVALID is built again.

            --status lists each migration as applied, incomplete (statements after
            its commit still to run) or pending, and any INVALID index, and changes
            nothing.

            Examples:
              DATABASE_URL=postgresql://admin@db.internal/grants visibility-worker migrate
              visibility-worker migrate --status
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "Folder of NNN_name.sql files. (env: VISIBILITY_WORKER_MIGRATIONS_DIR; default: the sql/ beside the executable)")
    var migrationsDir: String?

    @Flag(help: "List each migration as applied, incomplete or pending, and INVALID indexes; change nothing.")
    var status = false

    @Option(help: "How long a statement may wait for a lock before its file is rolled back and tried again, e.g. 250ms. (default: 250ms)")
    var lockTimeout: String?

    @Option(help: "How long to keep trying a file whose locks other sessions hold, e.g. 30m. (default: 30m)")
    var giveUpAfter: String?

    func run() throws {
        let logger = try common.makeLogger()
        let directory = try SchemaMigrator.locateDirectory(
            explicit: migrationsDir ?? ProcessInfo.processInfo.environment["VISIBILITY_WORKER_MIGRATIONS_DIR"],
            // The real file, not argv[0]: a bare name found through PATH must still find the sql/ beside it.
            executablePath: Bundle.main.executableURL?.path ?? CommandLine.arguments[0]
        )
        var options = SchemaMigrator.Options()
        if let lockTimeout {
            guard let value = Settings.duration(lockTimeout), value >= .milliseconds(1) else {
                throw ValidationError("--lock-timeout: cannot understand '\(lockTimeout)' (e.g. 250ms, 2s)")
            }
            options.lockTimeout = value
        }
        if let giveUpAfter {
            guard let value = Settings.duration(giveUpAfter) else {
                throw ValidationError("--give-up-after: cannot understand '\(giveUpAfter)' (e.g. 30m, 2h)")
            }
            options.giveUpAfter = value
        }
        let migrator = try SchemaMigrator(directory: directory, options: options, logger: logger)
        let connection = try common.connect(logger: logger, defaultTimeout: nil)
        if status {
            print(Self.describe(try migrator.status(connection)), terminator: "")
            return
        }
        let applied = try migrator.migrate(connection)
        if applied.isEmpty {
            print("schema is up to date (\(migrator.migrations.count) migrations)")
        } else {
            print("applied \(applied.count) migration\(applied.count == 1 ? "" : "s"): \(applied.joined(separator: ", "))")
        }
    }

    static func describe(_ status: MigrationStatus) -> String {
        let width = (status.entries.map(\.name.count).max() ?? 0) + 2
        var text = ""
        for entry in status.entries {
            let state: String
            switch entry.state {
            case .applied(let at): state = "applied     \(at)"
            case .incomplete(let left):
                state = "incomplete  \(left) statement\(left == 1 ? "" : "s") after its commit still to run: run `migrate`"
            case .pending: state = "pending"
            case .changed: state = "changed     the file differs from the one applied: add a new migration instead"
            case .unknown: state = "applied     by a newer build (no such file here)"
            }
            text += entry.name.padding(toLength: width, withPad: " ", startingAt: 0) + state + "\n"
        }
        for index in status.invalidIndexes {
            text += "INVALID index \(index): `migrate` builds it again\n"
        }
        let applied = status.entries.filter { if case .pending = $0.state { false } else { true } }.count
        let pending = status.entries.count - applied
        text += "\(applied) applied, \(pending) pending"
        if let oldest = status.oldestWorkerSchema { text += "; oldest_worker_schema \(oldest)" }
        text += "; this build requires migration \(SchemaMigrator.requiredVersion)\n"
        return text
    }
}
