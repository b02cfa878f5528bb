import CLibPQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A NOTIFY received on a channel this connection listens to.
public struct PostgresNotification: Sendable, Equatable {
    public let channel: String
    public let payload: String
    public let senderPID: Int32
}

extension PostgresConnection {
    /// Starts listening on `channel`; kept across reconnects. Not in transaction
    /// pool mode, where the next transaction may run on another session.
    public func listen(_ channel: String) throws {
        guard configuration.poolMode == .session else {
            throw PostgresError(kind: .client, message: "LISTEN needs a session of its own; not available in transaction pool mode")
        }
        try query("LISTEN \(try quoteIdentifier(channel))")
        listeningChannels.insert(channel)
    }

    /// Returns the notifications that arrive within `timeout` (possibly none),
    /// waiting on the socket with `poll()` rather than sleeping. Returns as soon as
    /// at least one is there. After a reconnect, notifications sent while the
    /// connection was down are lost: compare `reconnectCount` to notice.
    public func waitForNotifications(timeout: Duration) throws -> [PostgresNotification] {
        try ensureUsable()
        var received = drainNotifications()
        if !received.isEmpty { return received }
        let deadline = ContinuousClock.now + timeout
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return [] }
            let milliseconds = Int32(clamping: Int64(remaining.seconds * 1000) + 1)
            if socketIsReadable(timeoutMilliseconds: milliseconds) {
                guard PQconsumeInput(handle) == 1 else { throw connectionError() }
                received = drainNotifications()
                if !received.isEmpty { return received }
                if PQstatus(handle) != CONNECTION_OK { throw connectionError() }
            }
        }
    }

    private func drainNotifications() -> [PostgresNotification] {
        var notifications: [PostgresNotification] = []
        while let notify = PQnotifies(handle) {
            let pointee = notify.pointee
            notifications.append(PostgresNotification(
                channel: String(cString: pointee.relname),
                payload: pointee.extra.map { String(cString: $0) } ?? "",
                senderPID: pointee.be_pid
            ))
            PQfreemem(notify)
        }
        return notifications
    }
}
