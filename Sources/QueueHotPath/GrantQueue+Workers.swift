import Foundation
import GrantQueue
import Postgres

extension GrantQueue {
    static let registerWorker = PostgresStatement(
        name: "workers_register",
        sql: """
            INSERT INTO visibility_workers (id, host, pid, version) VALUES ($1, $2, $3, $4)
            ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), version = EXCLUDED.version
            """
    )

    /// An upsert: a worker whose row was removed (by hand, say) is registered again.
    /// Returns the schema's gate, so a running worker learns when a migration
    /// raised it past its build (sql/018_claim_fence.sql).
    static let heartbeat = PostgresStatement(
        name: "workers_heartbeat",
        sql: """
            INSERT INTO visibility_workers AS w
                (id, host, pid, in_flight, pause_reason, paused_until, paused_since, version, last_outcome_by_app)
            VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::float8), CASE WHEN $5::text IS NOT NULL THEN now() END, $7,
                    $8::jsonb)
            ON CONFLICT (id) DO UPDATE
            SET heartbeat_at = now(), in_flight = EXCLUDED.in_flight, pause_reason = EXCLUDED.pause_reason, version = EXCLUDED.version,
                paused_until = EXCLUDED.paused_until, last_outcome_by_app = EXCLUDED.last_outcome_by_app,
                paused_since = CASE WHEN EXCLUDED.pause_reason IS NOT NULL THEN coalesce(w.paused_since, now()) END
            RETURNING (SELECT oldest_worker_schema FROM visibility_schema_compatibility)
            """
    )

    /// Pushes out the leases of the jobs this worker still has in flight, in one
    /// statement that never waits for a row lock: a row locked by this worker's own
    /// completion is being finished, and one locked by anyone else (an operator's
    /// open transaction) cannot be taken from this worker by a rescuer either, so
    /// waiting for it would only hold up every other lease.
    ///
    /// The state is compared with a sub-select, not with the constant: from the
    /// constant, a generic plan (what a named statement becomes) proves the
    /// predicate of `visibility_grant_jobs_running_leases` and, with statistics
    /// taken while nothing ran, walks that whole index instead of looking the ids
    /// up; behind a pinned horizon the index holds every job run since it began.
    static let extendLeases = PostgresStatement(
        name: "grant_jobs_extend_leases",
        sql: """
            UPDATE visibility_grant_jobs AS j
            SET locked_until = now() + make_interval(secs => $3::float8)
            FROM (SELECT id FROM visibility_grant_jobs
                  WHERE id = ANY($2::bigint[]) AND locked_by = $1 AND state = (SELECT 'running')
                  FOR UPDATE SKIP LOCKED) AS mine
            WHERE j.id = mine.id
            """
    )

    static let deregisterWorker = PostgresStatement(
        name: "workers_deregister",
        sql: "DELETE FROM visibility_workers WHERE id = $1"
    )

    /// `version`: what the worker's build calls itself, for `status`.
    public func registerWorker(id: String, host: String, pid: Int32, version: String? = nil) throws {
        try connection.query(Self.registerWorker, [id, host, pid, version])
    }

    /// What a worker reports with its heartbeat.
    public struct WorkerReport: Sendable {
        public var inFlight: Int
        /// Why calls are paused, and for how much longer; `nil` when they are not.
        public var pause: (reason: String, remaining: Duration)?
        /// What the worker's build calls itself, for `status`.
        public var version: String?
        /// When this worker last wrote an outcome of each app's jobs (for the stall flag).
        public var lastOutcomeByApp: [String: Date]

        public init(inFlight: Int, pause: (reason: String, remaining: Duration)? = nil, version: String? = nil,
                    lastOutcomeByApp: [String: Date] = [:]) {
            self.inFlight = inFlight
            self.pause = pause
            self.version = version
            self.lastOutcomeByApp = lastOutcomeByApp
        }

        /// `{"app": unix seconds}`, as sql/021 keeps it.
        var lastOutcomeJSON: String? {
            guard !lastOutcomeByApp.isEmpty else { return nil }
            let seconds = lastOutcomeByApp.mapValues { ($0.timeIntervalSince1970 * 1000).rounded() / 1000 }
            guard let data = try? JSONEncoder().encode(seconds) else { return nil }
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// Refreshes the worker's heartbeat and report, re-registering it if its row was
    /// removed. Returns the schema's `oldest_worker_schema`.
    @discardableResult
    public func heartbeat(workerID: String, host: String, pid: Int32, report: WorkerReport) throws -> Int {
        let rows = try connection.query(Self.heartbeat, [workerID, host, pid, report.inFlight, report.pause?.reason,
                                                         report.pause?.remaining.seconds, report.version,
                                                         report.lastOutcomeJSON])
        return try rows.first?.decode(0, as: Int?.self) ?? 0
    }

    /// Returns how many leases were extended.
    @discardableResult
    public func extendLeases(jobIDs: [Int64], workerID: String, lease: Duration) throws -> Int {
        guard !jobIDs.isEmpty else { return 0 }
        return try connection.query(Self.extendLeases, [workerID, jobIDs, lease.seconds]).affectedRows
    }

    public func deregisterWorker(id: String) throws {
        try connection.query(Self.deregisterWorker, [id])
    }
}
