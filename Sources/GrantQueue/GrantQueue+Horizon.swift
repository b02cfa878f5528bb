import Postgres

/// What keeps vacuum from removing the jobs table's dead rows, for `status`, the
/// console and every worker's gauges (docs/OPERATIONS.md, "A pinned horizon").
public struct HorizonReport: Sendable, Equatable, Codable {
    /// How long the oldest transaction of this database that holds the horizon back
    /// (a snapshot or a transaction id: a long report, `pg_dump`, a forgotten
    /// session, a prepared transaction) has been open; nil when none does, or when
    /// this login may not see other logins' sessions (grant it `pg_read_all_stats`).
    public var oldestTransactionAgeSeconds: Double?
    /// Dead row versions in the jobs table, as PostgreSQL's statistics count them:
    /// each one a claim may have to step over until vacuum removes it.
    public var jobsDeadRows: Int

    public init(oldestTransactionAgeSeconds: Double? = nil, jobsDeadRows: Int = 0) {
        self.oldestTransactionAgeSeconds = oldestTransactionAgeSeconds
        self.jobsDeadRows = jobsDeadRows
    }
}

extension GrantQueue {
    /// From the statistics views only: no scan of the jobs table, whatever its size.
    /// This session is left out (it holds a snapshot only to answer this).
    static let readHorizon = """
        SELECT extract(epoch FROM now() - least(
                   (SELECT min(xact_start) FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
                      AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)),
                   (SELECT min(prepared) FROM pg_prepared_xacts WHERE database = current_database())))::float8,
               coalesce((SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'visibility_grant_jobs'::regclass), 0)::bigint
        """

    public func horizon() throws -> HorizonReport {
        guard let row = try connection.query(Self.readHorizon).first else { return HorizonReport() }
        return HorizonReport(oldestTransactionAgeSeconds: try row.decode(0), jobsDeadRows: try row.decode(1))
    }
}
