import Foundation
import Logging
import Postgres

extension SchemaMigrator {
    static let readIncomplete = """
        SELECT version, after_commit_pending FROM visibility_schema_migrations
        WHERE after_commit_pending > 0 ORDER BY version
        """
    static let markStepDone = """
        UPDATE visibility_schema_migrations SET after_commit_pending = $2 WHERE version = $1
        """
    /// Indexes on the queue's tables that a build left unfinished: a CREATE INDEX
    /// CONCURRENTLY that failed or was cut off leaves one behind, kept up on every
    /// write and never used, and `IF NOT EXISTS` would skip it.
    static let readInvalidIndexes = """
        SELECT i.relname
        FROM pg_index AS x
        JOIN pg_class AS i ON i.oid = x.indexrelid
        JOIN pg_class AS t ON t.oid = x.indrelid
        WHERE NOT x.indisvalid AND t.relname LIKE 'visibility\\_%' AND pg_table_is_visible(t.oid)
        ORDER BY i.relname
        """

    /// Runs a migration's statements after its commit, from `first` on, counting each
    /// one done in the history row (`after_commit_pending`), so that a `migrate` cut
    /// off between them leaves the rest to the next one. Each must be one that can run
    /// again (MigrationRulesTests): `IF NOT EXISTS`, `IF EXISTS`, `VALIDATE`. Locks here
    /// wait without the short timeout: these take no lock that writers queue behind.
    func runAfterCommitSteps(of migration: Migration, from first: Int, _ connection: PostgresConnection) throws {
        let steps = migration.afterCommitStatements
        for index in first..<steps.count {
            let statement = steps[index]
            do {
                if case .create(let name) = IndexStep(statement: statement), try invalidIndexes(connection).contains(name) {
                    try dropInvalidIndex(name, connection)
                }
                try connection.execute(script: statement)
                try connection.query(Self.markStepDone, [migration.version, steps.count - index - 1])
            } catch {
                throw MigrationError(description: "\(migration.name).sql was applied, but statement \(index + 1) of "
                    + "\(steps.count) after its commit failed (\(error)); `visibility-worker migrate` tries it again")
            }
        }
    }

    /// Finishes the statements after commit that an earlier `migrate` did not get to.
    func finishIncomplete(_ connection: PostgresConnection) throws {
        for row in try connection.query(Self.readIncomplete) {
            let (version, pending): (Int, Int) = (try row.decode(0), try row.decode(1))
            guard let migration = migrations.first(where: { $0.version == version }) else {
                throw MigrationError(description:
                    "migration \(version) is recorded with \(pending) statements after its commit still to run, "
                    + "but its file is not in this build's sql/: run `migrate` with the build that applied it")
            }
            let steps = migration.afterCommitStatements.count
            logger.notice("finishing a migration an earlier migrate left half done", metadata: [
                "migration": "\(migration.name)", "statements_left": "\(pending)",
            ])
            try runAfterCommitSteps(of: migration, from: max(0, steps - pending), connection)
        }
    }

    /// Builds again every INVALID index that a migration's statements create (and no
    /// later one drops), and drops those a later one drops. Others are left alone
    /// and logged: they are not this schema's.
    func rebuildInvalidIndexes(_ connection: PostgresConnection) throws {
        for name in try invalidIndexes(connection) {
            switch lastStep(touching: name) {
            case (let migration, .create, let statement)?:
                logger.notice("building again an index left INVALID by an interrupted build", metadata: [
                    "index": "\(name)", "migration": "\(migration.name)",
                ])
                try dropInvalidIndex(name, connection)
                try connection.execute(script: statement)
            case (_, .drop, _)?:
                try dropInvalidIndex(name, connection)
            case nil:
                logger.warning("an INVALID index that no migration builds; left alone", metadata: ["index": "\(name)"])
            }
        }
    }

    func invalidIndexes(_ connection: PostgresConnection) throws -> [String] {
        try connection.query(Self.readInvalidIndexes).map { try $0.decode(0) }
    }

    /// The last statement of any migration that creates or drops the index `name`.
    func lastStep(touching name: String) -> (Migration, IndexStep, statement: String)? {
        var last: (Migration, IndexStep, statement: String)?
        for migration in migrations {
            for statement in migration.afterCommitStatements {
                guard let step = IndexStep(statement: statement) else { continue }
                if step == .create(index: name) || step == .drop(index: name) { last = (migration, step, statement) }
            }
        }
        return last
    }

    private func dropInvalidIndex(_ name: String, _ connection: PostgresConnection) throws {
        // An identifier cannot be a parameter; quote_ident in the server quotes it.
        let quoted: String = try connection.query("SELECT quote_ident($1)", [name]).first?.decode(0) ?? name
        try connection.execute(script: "DROP INDEX CONCURRENTLY IF EXISTS \(quoted)")
    }
}
