import Foundation
import Logging
import Postgres

extension SchemaMigrator {
    /// Sets the transaction's lock timeout; a file may not set its own (MigrationRulesTests).
    static let setLockTimeout = "SELECT set_config('lock_timeout', $1, true)"

    /// The sessions, other than this one, whose open transactions hold locks on the
    /// queue's tables, oldest first: who a migration waited for. Only who and for how
    /// long, never their statements' text, which may carry data.
    static let readLockHolders = """
        SELECT a.pid, coalesce(nullif(a.application_name, ''), '-'), coalesce(a.state, '-'),
               extract(epoch FROM now() - a.xact_start)::float8
        FROM pg_stat_activity AS a
        WHERE a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL
          AND EXISTS (SELECT FROM pg_locks AS l JOIN pg_class AS c ON c.oid = l.relation
                      WHERE l.pid = a.pid AND l.granted AND c.relname LIKE 'visibility\\_%')
        ORDER BY a.xact_start
        LIMIT 5
        """

    /// Runs `body` in a transaction whose statements wait at most `options.lockTimeout`
    /// for a lock. When one waits longer (SQLSTATE 55P03), the transaction rolls back,
    /// so nothing queues behind it any more, and it is tried again after a pause that
    /// grows to 5 s, saying who held the locks, until `options.giveUpAfter`.
    @discardableResult
    func withLockRetries<T>(_ connection: PostgresConnection, doing what: String,
                            _ body: (PostgresConnection) throws -> T) throws -> T {
        let deadline = ContinuousClock.now + options.giveUpAfter
        var pause = Duration.milliseconds(200)
        var tries = 0
        while true {
            tries += 1
            do {
                return try connection.transaction { connection in
                    try connection.query(Self.setLockTimeout, ["\(max(1, Int((options.lockTimeout.seconds * 1000).rounded())))ms"])
                    return try body(connection)
                }
            } catch let error as PostgresError where error.sqlState == "55P03" {
                guard ContinuousClock.now + pause < deadline else {
                    throw MigrationError(description:
                        "\(what): gave up after \(tries) tries over \(options.giveUpAfter): another session kept a lock it needs "
                        + "(\(lockHolders(connection))); end that session's transaction and run `migrate` again")
                }
                logger.notice("migration waits for a lock; rolled back, trying again", metadata: [
                    "migration": "\(what)", "try": "\(tries)", "retry_in": "\(pause)",
                    "lock_timeout": "\(options.lockTimeout)", "lock_holders": "\(lockHolders(connection))",
                ])
                Thread.sleep(forTimeInterval: pause.seconds)
                pause = min(pause * 2, .seconds(5))
            }
        }
    }

    /// "pid 4242 (psql, idle in transaction, open 41 s), …" or "none found".
    private func lockHolders(_ connection: PostgresConnection) -> String {
        guard let rows = try? connection.query(Self.readLockHolders) else { return "unknown" }
        let holders = rows.compactMap { row -> String? in
            guard let pid: Int32 = try? row.decode(0), let application: String = try? row.decode(1),
                  let state: String = try? row.decode(2), let open: Double = try? row.decode(3) else { return nil }
            return "pid \(pid) (\(application), \(state), transaction open \(Int(open.rounded())) s)"
        }
        return holders.isEmpty ? "none found" : holders.joined(separator: ", ")
    }
}
