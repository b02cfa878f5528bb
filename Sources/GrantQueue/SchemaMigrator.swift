import Foundation
import Logging
import Postgres

/// One numbered file of `sql/`, e.g. `001_grant_jobs.sql`.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// Lines equal to this split off statements that run after the file's transaction.
    public static let afterCommitMarker = "-- migrate: after commit"

    private var parts: [String] {
        var parts = [""]
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces) == Self.afterCommitMarker {
                parts.append("")
            } else {
                parts[parts.count - 1] += line + "\n"
            }
        }
        return parts
    }

    /// What runs in the file's transaction.
    var transactionalPart: String { parts[0] }

    /// One statement each, run after the commit, outside any transaction.
    var afterCommitStatements: [String] { Array(parts.dropFirst()) }

    /// FNV-1a of the text: lets `migrate` notice a file edited after it was applied.
    public var checksum: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sql.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}

/// Something is wrong with the migrations themselves (not with the database).
public struct MigrationError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// Applies `sql/` in order, once each, recording what it applied in
/// `visibility_schema_migrations`. A file may end with statements that must not
/// run in a transaction (`CREATE INDEX CONCURRENTLY`, `VALIDATE CONSTRAINT` on a
/// busy table), each after a line `-- migrate: after commit`: they run one by
/// one, right after the file's transaction commits, by the process that applied it. Each file's transaction first takes an
/// advisory lock, so any number of hosts can run `migrate` at the same moment:
/// the first applies, the others wait and then find it applied. The lock is
/// transaction-level, so this also works through a transaction-mode pooler.
public struct SchemaMigrator {
    /// An arbitrary constant that identifies this lock in `pg_locks`.
    static let advisoryLockKey: Int64 = 0x5649_5342_4D49_4752  // "VISBMIGR"

    static let createHistoryTable = """
        CREATE TABLE IF NOT EXISTS visibility_schema_migrations (
            version    int PRIMARY KEY,
            name       text NOT NULL,
            checksum   text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    static let readApplied = "SELECT name, checksum FROM visibility_schema_migrations WHERE version = $1"
    static let takeLock = "SELECT pg_advisory_xact_lock($1)"
    static let tryRunLock = "SELECT pg_try_advisory_lock($1)"
    static let releaseRunLock = "SELECT pg_advisory_unlock($1)"
    static let recordMigration = "INSERT INTO visibility_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"

    /// The newest migration in `sql/` that this build's SQL relies on. A test keeps it
    /// equal to the highest file number, so adding a migration means raising it.
    public static let requiredVersion = 17

    static let readCurrentVersion = """
        SELECT coalesce(max(version), 0) FROM visibility_schema_migrations
        """

    /// The schema's migration and the oldest build, by its `requiredVersion`, that may
    /// run against it (sql/008_worker_version.sql says when a migration raises that),
    /// in one round trip: workers run this at every start.
    static let readCurrentVersionAndOldestWorker = """
        SELECT coalesce(max(version), 0), (SELECT oldest_worker_schema FROM visibility_schema_compatibility)
        FROM visibility_schema_migrations
        """

    /// Fails, saying what to do, when this build cannot run against the database's
    /// schema: it is older than this build needs (new binaries deployed before
    /// `migrate` ran), or a newer migration declared that builds as old as this one
    /// must stop (old binaries left running after an incompatible release). A newer
    /// schema that keeps this build working is fine: that is a rolling upgrade.
    /// Returns the schema's migration number.
    @discardableResult
    public static func checkSchema(_ connection: PostgresConnection) throws -> Int {
        var current = 0
        var oldest = 0
        do {
            let row = try connection.query(readCurrentVersionAndOldestWorker).first
            current = try row?.decode(0, as: Int.self) ?? 0
            oldest = try row?.decode(1, as: Int?.self) ?? 0
        } catch let error as PostgresError where error.sqlState == "42P01" {
            current = try versionBeforeCompatibility(connection)  // from before 008, or never migrated
        }
        guard current >= requiredVersion else {
            throw MigrationError(description:
                "the database schema is at migration \(current), this build needs \(requiredVersion): run `visibility-worker migrate` first")
        }
        guard oldest <= requiredVersion else {
            throw MigrationError(description:
                "the database schema is at migration \(current), which needs workers built for migration \(oldest) or later; "
                + "this build knows up to \(requiredVersion): upgrade this worker")
        }
        if current > requiredVersion {
            connection.logger.notice("the database schema is newer than this build and keeps it working", metadata: [
                "schema_migration": "\(current)", "build_migration": "\(requiredVersion)",
            ])
        }
        return current
    }

    /// The schema's migration where visibility_schema_compatibility is missing.
    private static func versionBeforeCompatibility(_ connection: PostgresConnection) throws -> Int {
        do {
            return try connection.query(readCurrentVersion).first?.decode(0, as: Int.self) ?? 0
        } catch let error as PostgresError where error.sqlState == "42P01" {
            return 0  // no history table: never migrated
        }
    }

    public let migrations: [Migration]
    let logger: Logger

    public init(migrations: [Migration], logger: Logger) {
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.logger = logger
    }

    /// Reads every `NNN_name.sql` in `directory`.
    public init(directory: URL, logger: Logger) throws {
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
        self.init(migrations: migrations, logger: logger)
    }

    /// Applies what is pending, each file in its own transaction; returns the names applied.
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
        var appliedNow: [String] = []
        for migration in migrations {
            let applied = try connection.transaction { connection -> Bool in
                try connection.query(Self.takeLock, [Self.advisoryLockKey])
                try connection.query(Self.createHistoryTable)
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
                try connection.query(Self.recordMigration, [migration.version, migration.name, migration.checksum])
                return true
            }
            if applied {
                for statement in migration.afterCommitStatements {
                    do {
                        try connection.execute(script: statement)
                    } catch {
                        throw MigrationError(description: "\(migration.name).sql was applied, but a statement after its commit failed "
                            + "(\(error)); run it by hand: \(statement.split(separator: "\n").filter { !$0.hasPrefix("--") }.joined(separator: " "))")
                    }
                }
                logger.info("applied migration", metadata: ["migration": "\(migration.name)"])
                appliedNow.append(migration.name)
            }
        }
        return appliedNow
    }
}

extension SchemaMigrator {
    /// Where `sql/` is: `explicit` if given; otherwise a `sql/` folder (or
    /// `share/visibility-worker/sql`) beside the executable or in one of its
    /// parents, which covers both a checkout's `.build/…/visibility-worker` and an
    /// install prefix; last, `./sql`.
    public static func locateDirectory(explicit: String?, executablePath: String) throws -> URL {
        let fileManager = FileManager.default
        func hasMigrations(_ url: URL) -> Bool {
            (try? fileManager.contentsOfDirectory(atPath: url.path))?.contains { $0.hasSuffix(".sql") } ?? false
        }
        if let explicit {
            let url = URL(fileURLWithPath: explicit)
            guard hasMigrations(url) else {
                throw MigrationError(description: "no .sql migrations in \(explicit)")
            }
            return url
        }
        var directory = URL(fileURLWithPath: executablePath).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            for candidate in ["sql", "share/visibility-worker/sql"] {
                let url = directory.appendingPathComponent(candidate)
                if hasMigrations(url) { return url }
            }
            directory.deleteLastPathComponent()
        }
        let local = URL(fileURLWithPath: "sql")
        if hasMigrations(local) { return local }
        throw MigrationError(description:
            "cannot find the sql/ migrations folder; pass --migrations-dir or set VISIBILITY_WORKER_MIGRATIONS_DIR")
    }
}

extension SchemaMigrator {
    /// `checkSchema` on the queue's own connection.
    public static func checkSchema(_ queue: GrantQueue) throws {
        try checkSchema(queue.connection)
    }
}
