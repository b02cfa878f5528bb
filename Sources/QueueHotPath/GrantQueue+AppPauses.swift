import Foundation
import GrantQueue
import Postgres

/// What a worker reads and writes of the apps table (sql/010_apps.sql): the apps
/// and their pauses, read every second, and the pause every worker honours for
/// one app (config error, monthly quota), with its single probe call.
extension GrantQueue {
    /// The apps and their pauses, without counting jobs: what a worker reads every second.
    static let readApps = PostgresStatement(
        name: "apps_read",
        sql: """
            SELECT name, app_key, global_qps, pause_reason, paused_until, probe_by
            FROM visibility_apps
            ORDER BY name
            """
    )

    /// Pauses app `$1` for `$2` seconds from now, for every worker; a pause already
    /// longer stays. The probe, if any, is over.
    static let pauseApp = PostgresStatement(
        name: "apps_pause",
        sql: """
            UPDATE visibility_apps
            SET paused_until = greatest(paused_until, now() + make_interval(secs => $2::float8)),
                pause_reason = $3, paused_since = coalesce(paused_since, now()), probe_by = NULL, probe_until = NULL
            WHERE name = $1
            """
    )

    /// The pause of app `$1` ran out: worker `$2` takes the single probe call
    /// (for `$3` seconds, after which another worker may take it over).
    static let takeProbe = PostgresStatement(
        name: "apps_take_probe",
        sql: """
            UPDATE visibility_apps
            SET probe_by = $2, probe_until = now() + make_interval(secs => $3::float8)
            WHERE name = $1 AND paused_until <= now()
              AND (probe_by IS NULL OR probe_by = $2 OR probe_until < now())
            """
    )

    /// The probe of worker `$2` was answered normally: app `$1` runs again everywhere.
    static let resumeApp = PostgresStatement(
        name: "apps_resume",
        sql: """
            UPDATE visibility_apps
            SET paused_until = NULL, pause_reason = NULL, paused_since = NULL, probe_by = NULL, probe_until = NULL
            WHERE name = $1 AND probe_by = $2
            """
    )

    /// The app's secret was rotated: end its pause now, so the next claim probes.
    static let probeAppNow = PostgresStatement(
        name: "apps_probe_now",
        sql: "UPDATE visibility_apps SET paused_until = least(paused_until, now()) WHERE name = $1 AND paused_until IS NOT NULL"
    )

    /// Whether any job of the apps `$1` is running, or could run within `$2`
    /// seconds from now: claimable by then (the claim index), queued for later and
    /// due by then (the stagers' index), a keyed arrival not yet admitted, or a
    /// keyed job due by then behind its key's head (the head may be another app's:
    /// keys are shared across apps). Each part reads an index of work still to do
    /// (the last, one of keyed jobs), so the check that `--until-empty` makes every
    /// 200 ms costs nothing behind a million jobs queued for next month (a plain
    /// `run_at` filter read the whole table).
    static let unfinishedDueSoonForApps = PostgresStatement(
        name: "grant_jobs_unfinished_due_soon_for_apps",
        sql: """
            SELECT EXISTS (
                SELECT 1 FROM visibility_grant_jobs
                WHERE app = ANY($1::text[]) AND state = 'pending' AND NOT ordering_blocked AND NOT scheduled
                  AND run_at <= now() + make_interval(secs => $2::float8)
            ) OR EXISTS (
                SELECT 1 FROM visibility_grant_jobs
                WHERE scheduled AND state = 'pending' AND run_at <= now() + make_interval(secs => $2::float8)
                  AND app = ANY($1::text[])
            ) OR EXISTS (
                SELECT 1 FROM visibility_grant_jobs
                WHERE ordering_key IS NOT NULL AND ordering_seq IS NULL AND state = 'pending' AND app = ANY($1::text[])
            ) OR EXISTS (
                SELECT 1 FROM visibility_grant_jobs
                WHERE ordering_key IS NOT NULL AND ordering_blocked AND state = 'pending' AND app = ANY($1::text[])
                  AND run_at <= now() + make_interval(secs => $2::float8)
            ) OR EXISTS (
                SELECT 1 FROM visibility_grant_jobs WHERE app = ANY($1::text[]) AND state = 'running'
            )
            """
    )

    static let reportAppsWithoutSecret = PostgresStatement(
        name: "workers_apps_without_secret",
        sql: "UPDATE visibility_workers SET apps_without_secret = $2 WHERE id = $1"
    )

    /// Every app and its pause, without counting jobs (cheap enough to read every second).
    public func readApps() throws -> [GrantApp] {
        try connection.query(Self.readApps).map { row in
            GrantApp(name: try row.decode(0), appKey: try row.decode(1), globalQPS: try row.decode(2),
                     pauseReason: try row.decode(3), pausedUntil: try row.decode(4), probeBy: try row.decode(5))
        }
    }

    /// Pauses `app`'s calls for every worker (a config error or a used-up quota).
    public func pauseApp(_ app: String, for duration: Duration, reason: String) throws {
        try connection.query(Self.pauseApp, [app, duration.seconds, reason])
    }

    /// True if this worker now holds the probe of `app` (its pause has run out).
    public func takeProbe(app: String, workerID: String, lease: Duration) throws -> Bool {
        try connection.query(Self.takeProbe, [app, workerID, lease.seconds]).affectedRows == 1
    }

    /// Ends `app`'s pause after this worker's probe was answered normally.
    public func resumeApp(_ app: String, workerID: String) throws {
        try connection.query(Self.resumeApp, [app, workerID])
    }

    public func probeAppNow(_ app: String) throws {
        try connection.query(Self.probeAppNow, [app])
    }

    /// For `run --until-empty`: work left for the apps a worker serves.
    public func hasUnfinishedJobs(apps: [String], dueWithin horizon: Duration) throws -> Bool {
        guard !apps.isEmpty else { return false }
        return try connection.query(Self.unfinishedDueSoonForApps, [apps, horizon.seconds]).first?.decode(0, as: Bool.self) ?? false
    }

    /// Records which apps this worker cannot call (no secret), for `status`.
    public func reportAppsWithoutSecret(workerID: String, apps: [String]) throws {
        try connection.query(Self.reportAppsWithoutSecret, [workerID, apps.isEmpty ? nil : apps])
    }
}
