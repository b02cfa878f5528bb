import Foundation
import Synchronization

/// Where and how to connect.
public struct PostgresConfiguration: Sendable {
    /// What the connection may rely on between transactions.
    public enum PoolMode: String, Sendable, CaseIterable {
        /// A session of its own (a direct connection, or a pooler in session mode):
        /// named prepared statements, LISTEN and session settings are kept.
        case session
        /// A transaction-mode pooler (PgBouncer `pool_mode = transaction`): each
        /// transaction may run on another server session, so nothing may outlive
        /// one: statements are sent unnamed, nothing LISTENs, nothing is SET.
        case transaction
    }

    /// A libpq conninfo string (`host=... dbname=...`) or URI (`postgresql://...`).
    /// `nil` leaves everything to libpq's `PG*` environment variables and defaults.
    public var conninfo: String?
    /// Settings that win over the conninfo, e.g. `["dbname": "other"]`.
    public var overrides: [String: String]
    /// Shown in `pg_stat_activity` unless the conninfo names its own.
    public var applicationName: String
    public var poolMode: PoolMode
    /// The longest wait for one statement's answer; past it the statement is
    /// cancelled and the session dropped. Also the TCP user timeout, so the
    /// kernel gives up on a silent path in about the same time. `nil`: wait forever.
    public var timeout: Duration?
    /// When set, no wait on this configuration's connections goes past it
    /// (shutdown: bounded whatever the database does).
    public var cutoff: PostgresCutoff?

    public init(conninfo: String? = nil, overrides: [String: String] = [:], applicationName: String = "visibility-worker",
                poolMode: PoolMode = .session, timeout: Duration? = .seconds(15), cutoff: PostgresCutoff? = nil) {
        self.conninfo = conninfo
        self.overrides = overrides
        self.applicationName = applicationName
        self.poolMode = poolMode
        self.timeout = timeout
        self.cutoff = cutoff
    }

    /// libpq settings that bound every network wait. They are given before the
    /// conninfo, so the same keyword in the URL (or a `PG*` variable) wins.
    var networkDefaults: [(String, String)] {
        var defaults: [(String, String)] = []
        // Per host: a multi-host URL moves on to the next host after this long.
        if ProcessInfo.processInfo.environment["PGCONNECT_TIMEOUT"] == nil {
            defaults.append(("connect_timeout", "5"))
        }
        // An idle connection (the LISTEN one) on a dead path is noticed in about 25 s.
        defaults += [("keepalives", "1"), ("keepalives_idle", "10"), ("keepalives_interval", "5"), ("keepalives_count", "3")]
        if let timeout, timeout > .zero {
            defaults.append(("tcp_user_timeout", String(Int64(timeout.seconds * 1000))))
        }
        return defaults
    }
}

/// A moment shared by several connections after which none of them waits any
/// longer: set at shutdown so that a hung database cannot hold the process.
public final class PostgresCutoff: Sendable {
    private let instant = Mutex<ContinuousClock.Instant?>(nil)

    public init() {}

    /// Every wait from now on ends by `deadline` at the latest.
    public func set(_ deadline: ContinuousClock.Instant) {
        instant.withLock { current in current = min(current ?? deadline, deadline) }
    }

    public var deadline: ContinuousClock.Instant? { instant.withLock { $0 } }
}
