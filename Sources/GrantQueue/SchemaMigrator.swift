import Foundation
import Logging
import Postgres

/// Applies `sql/` in order, once each, recording what it applied in
/// `visibility_schema_migrations`, without ever stopping the queue for long:
///
/// - Each file runs in its own transaction under a short `lock_timeout`; a lock it
///   cannot get in time (an open producer transaction, a long report) rolls the file
///   back, says who holds it, and is tried again (`SchemaMigrator+Locks.swift`). A
///   statement waiting for a table lock holds every claim and insert queued behind
///   it, so it must not wait long.
/// - Statements that must not run in a transaction (`CREATE INDEX CONCURRENTLY`,
///   `VALIDATE CONSTRAINT` on a busy table), each after a line
///   `-- migrate: after commit`, run one by one after the file's commit. The history
///   row counts those still to do, so a `migrate` that died between them is finished
///   by the next one, and an index a crash left INVALID is built again
///   (`SchemaMigrator+AfterCommit.swift`).
///
/// Each file's transaction first takes an advisory lock, so any number of hosts
/// can run `migrate` at once: the first applies, the others wait and then find it
/// applied. The lock is transaction-level, so this also works through a
/// transaction-mode pooler.
public struct SchemaMigrator {
    /// How `migrate` treats the queue it runs beside.
    public struct Options: Sendable {
        /// How long one statement of a file's transaction may wait for a lock. Claims
        /// and inserts that need the same table queue behind a waiting ALTER, so this
        /// is also about the longest stall a migration causes them.
        public var lockTimeout: Duration = .milliseconds(250)
        /// How long to keep trying a file whose locks are taken, before giving up.
        public var giveUpAfter: Duration = .seconds(30 * 60)

        public init() {}
    }

    /// An arbitrary constant that identifies this lock in `pg_locks`.
    static let advisoryLockKey: Int64 = 0x5649_5342_4D49_4752  // "VISBMIGR"

    static let createHistoryTable = """
        CREATE TABLE IF NOT EXISTS visibility_schema_migrations (
            version              int PRIMARY KEY,
            name                 text NOT NULL,
            checksum             text NOT NULL,
            applied_at           timestamptz NOT NULL DEFAULT now(),
            after_commit_pending int NOT NULL DEFAULT 0
        )
        """
    /// Histories written before `after_commit_pending` existed: their migrations were
    /// finished by the process that applied them (the column's 0 says so).
    static let historyHasPendingColumn = """
        SELECT EXISTS (SELECT FROM pg_attribute
                       WHERE attrelid = 'visibility_schema_migrations'::regclass
                         AND attname = 'after_commit_pending' AND NOT attisdropped)
        """
    static let addPendingColumn = """
        ALTER TABLE visibility_schema_migrations ADD COLUMN IF NOT EXISTS after_commit_pending int NOT NULL DEFAULT 0
        """
    static let readApplied = "SELECT name, checksum FROM visibility_schema_migrations WHERE version = $1"
    static let takeLock = "SELECT pg_advisory_xact_lock($1)"
    static let tryRunLock = "SELECT pg_try_advisory_lock($1)"
    static let releaseRunLock = "SELECT pg_advisory_unlock($1)"
    static let recordMigration = """
        INSERT INTO visibility_schema_migrations (version, name, checksum, after_commit_pending) VALUES ($1, $2, $3, $4)
        """

    public let migrations: [Migration]
    public let options: Options
    let logger: Logger

    public init(migrations: [Migration], options: Options = Options(), logger: Logger) {
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.options = options
        self.logger = logger
    }

    /// Reads every `NNN_name.sql` in `directory`.
    public init(directory: URL, options: Options = Options(), logger: Logger) throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        var migrations: [Migration] = []
        for file in files.sorted() where file.hasSuffix(".sql") {
            let digits = file.prefix { $0.isNumber }
            guard let version = Int(digits), file.dropFirst(digits.count).first == "_" else {
                throw MigrationError(description: "\(file): migration files are named NNN_description.sql")
            }
            if let clash = migrations.first(where: { $0.version == version }) {
                throw MigrationError(description: "\(file) and \(clash.name) share version \(version)")
            }
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            migrations.append(Migration(version: version, name: String(file.dropLast(4)), sql: text))
        }
        guard !migrations.isEmpty else {
            throw MigrationError(description: "no NNN_*.sql files in \(directory.path)")
        }
        self.init(migrations: migrations, options: options, logger: logger)
    }

    /// Applies what is pending, each file in its own transaction, and finishes what
    /// an earlier `migrate` left half done; returns the names applied.
    @discardableResult
    public func migrate(_ connection: PostgresConnection) throws -> [String] {
        // Statements after a file's commit (CREATE INDEX CONCURRENTLY, VALIDATE) run outside
        // the file's lock: with a session of its own, one migrator runs at a time, whole, so
        // another cannot start the next file meanwhile (and deadlock with them). Behind a
        // transaction pooler only the per-file lock holds: run `migrate` from one host there.
        // The lock is tried, not waited for: a statement waiting on it would keep a snapshot
        // open, and the other migrator's CREATE INDEX CONCURRENTLY waits for every such
        // snapshot to end, so each would wait for the other. Between tries nothing is open.
        let wholeRunLock = connection.configuration.poolMode == .session
        var saidWaiting = false
        while wholeRunLock, try connection.query(Self.tryRunLock, [Self.advisoryLockKey]).first?.decode(0, as: Bool.self) != true {
            if !saidWaiting {
                logger.info("another migrate is running; waiting for it to finish")
                saidWaiting = true
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        defer { if wholeRunLock { _ = try? connection.query(Self.releaseRunLock, [Self.advisoryLockKey]) } }

        try prepareHistory(connection)
        try finishIncomplete(connection)
        var appliedNow: [String] = []
        for migration in migrations {
            let applied = try withLockRetries(connection, doing: migration.name) { connection -> Bool in
                try connection.query(Self.takeLock, [Self.advisoryLockKey])
                if let existing = try connection.query(Self.readApplied, [migration.version]).first {
                    let (name, checksum): (String, String) = (try existing.decode(0), try existing.decode(1))
                    guard checksum == migration.checksum else {
                        throw MigrationError(description:
                            "\(migration.name).sql was changed after it was applied (as \(name)); "
                            + "add a new migration instead of editing an applied one")
                    }
                    return false
                }
                try connection.execute(script: migration.transactionalPart)
                try connection.query(Self.recordMigration, [migration.version, migration.name, migration.checksum,
                                                            migration.afterCommitStatements.count])
                return true
            }
            if applied {
                try runAfterCommitSteps(of: migration, from: 0, connection)
                logger.info("applied migration", metadata: ["migration": "\(migration.name)"])
                appliedNow.append(migration.name)
            }
        }
        if wholeRunLock { try rebuildInvalidIndexes(connection) }
        return appliedNow
    }

    /// Creates the history table, or gives an older one the column that counts the
    /// statements still to run after a file's commit.
    private func prepareHistory(_ connection: PostgresConnection) throws {
        try withLockRetries(connection, doing: "the migration history") { connection in
            try connection.query(Self.takeLock, [Self.advisoryLockKey])
            try connection.query(Self.createHistoryTable)
            if try connection.query(Self.historyHasPendingColumn).first?.decode(0, as: Bool.self) != true {
                try connection.query(Self.addPendingColumn)
            }
        }
    }
}
