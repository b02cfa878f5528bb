import Foundation
import Logging
import Postgres

extension SchemaMigrator {
    /// The newest migration in `sql/` that this build's SQL relies on. A test keeps it
    /// equal to the highest file number, so adding a migration means raising it.
    public static let requiredVersion = 22

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
        if let refusal = refusal(oldestWorkerSchema: oldest, schema: current) {
            throw MigrationError(description: refusal)
        }
        if current > requiredVersion {
            connection.logger.notice("the database schema is newer than this build and keeps it working", metadata: [
                "schema_migration": "\(current)", "build_migration": "\(requiredVersion)",
            ])
        }
        return current
    }

    /// The gate's message when the schema's `oldest_worker_schema` shuts this build out,
    /// else nil: at start (`checkSchema`) and with every heartbeat of a running worker.
    public static func refusal(oldestWorkerSchema oldest: Int, schema current: Int? = nil) -> String? {
        guard oldest > requiredVersion else { return nil }
        let schema = current.map { "the database schema is at migration \($0), which" } ?? "the database schema"
        return "\(schema) needs workers built for migration \(oldest) or later; "
            + "this build knows up to \(requiredVersion): upgrade this worker"
    }

    /// The schema's migration where visibility_schema_compatibility is missing.
    private static func versionBeforeCompatibility(_ connection: PostgresConnection) throws -> Int {
        do {
            return try connection.query(readCurrentVersion).first?.decode(0, as: Int.self) ?? 0
        } catch let error as PostgresError where error.sqlState == "42P01" {
            return 0  // no history table: never migrated
        }
    }
}

extension SchemaMigrator {
    /// `checkSchema` on the queue's own connection.
    public static func checkSchema(_ queue: GrantQueue) throws {
        try checkSchema(queue.connection)
    }
}
