import Foundation
import Postgres

/// Where each migration stands in one database, for `migrate --status`.
public struct MigrationStatus: Sendable {
    public enum State: Sendable, Equatable {
        /// Applied and finished, at this time (UTC).
        case applied(at: String)
        /// Applied, with this many statements after its commit still to run.
        case incomplete(statementsLeft: Int)
        /// Not applied yet.
        case pending
        /// Applied from a file whose text is not this build's (edited since, or another build's).
        case changed
        /// Applied by a newer build: this build has no such file.
        case unknown
    }

    public struct Entry: Sendable {
        public let version: Int
        public let name: String
        public let state: State
    }

    public let entries: [Entry]
    /// INVALID indexes on the queue's tables (`migrate` builds them again).
    public let invalidIndexes: [String]
    /// `visibility_schema_compatibility.oldest_worker_schema`, when the table exists.
    public let oldestWorkerSchema: Int?
}

extension SchemaMigrator {
    static let readHistory = """
        SELECT version, name, checksum, after_commit_pending,
               to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC'
        FROM visibility_schema_migrations ORDER BY version
        """
    static let readHistoryWithoutPending = """
        SELECT version, name, checksum, 0,
               to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC'
        FROM visibility_schema_migrations ORDER BY version
        """
    static let readOldestWorkerSchema = "SELECT oldest_worker_schema FROM visibility_schema_compatibility"

    /// Reads, and changes nothing.
    public func status(_ connection: PostgresConnection) throws -> MigrationStatus {
        var recorded: [Int: (name: String, checksum: String, pending: Int, appliedAt: String)] = [:]
        var hasHistory = true
        do {
            let hasPending = try connection.query(Self.historyHasPendingColumn).first?.decode(0, as: Bool.self) == true
            for row in try connection.query(hasPending ? Self.readHistory : Self.readHistoryWithoutPending) {
                recorded[try row.decode(0)] = (try row.decode(1), try row.decode(2), try row.decode(3), try row.decode(4))
            }
        } catch let error as PostgresError where error.sqlState == "42P01" {
            hasHistory = false  // never migrated
        }
        var entries: [MigrationStatus.Entry] = migrations.map { migration in
            let state: MigrationStatus.State
            if let applied = recorded[migration.version] {
                if applied.checksum != migration.checksum {
                    state = .changed
                } else if applied.pending > 0 {
                    state = .incomplete(statementsLeft: applied.pending)
                } else {
                    state = .applied(at: applied.appliedAt)
                }
            } else {
                state = .pending
            }
            return .init(version: migration.version, name: migration.name, state: state)
        }
        for (version, applied) in recorded where !migrations.contains(where: { $0.version == version }) {
            entries.append(.init(version: version, name: applied.name, state: .unknown))
        }
        let oldest: Int? = hasHistory ? try? connection.query(Self.readOldestWorkerSchema).first?.decode(0) : nil
        return MigrationStatus(entries: entries.sorted { $0.version < $1.version },
                               invalidIndexes: try invalidIndexes(connection), oldestWorkerSchema: oldest)
    }
}
