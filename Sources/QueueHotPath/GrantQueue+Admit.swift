import GrantQueue
import Postgres

extension GrantQueue {
    /// Admits up to `$1` keyed jobs that producers committed: each gets its place in
    /// its key's line, and a key with nothing unfinished gets its head
    /// (sql/017_ordering_without_producer_locks.sql). -1 when another worker is
    /// admitting at this moment.
    static let admitArrivals = PostgresStatement(
        name: "grant_jobs_admit_arrivals",
        sql: "SELECT visibility_ordering_admit_arrivals($1)"
    )

    /// What one admission pass did.
    public enum Admission: Equatable, Sendable {
        /// This many arrivals were admitted (0: none was waiting).
        case admitted(Int)
        /// Another worker was admitting; what has committed is in its pass.
        case busyElsewhere
    }

    /// Most arrivals one pass admits: one short transaction, a bounded number of rows
    /// locked, whatever a bulk load brought.
    public static let admissionBatch = 2000

    /// Admits keyed jobs that arrived (see `admitArrivals`); call it again at once
    /// while it returns a full batch.
    public func admitArrivals(limit: Int = GrantQueue.admissionBatch) throws -> Admission {
        let admitted = try connection.query(Self.admitArrivals, [Int32(clamping: limit)]).first?.decode(0, as: Int.self) ?? 0
        return admitted < 0 ? .busyElsewhere : .admitted(admitted)
    }
}
