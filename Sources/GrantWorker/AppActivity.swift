import Foundation
import Synchronization

/// What this process saw of each app, for the heartbeat and the app signals: when
/// it last finished an attempt of the app's jobs, and the call rate it last
/// allowed itself for the app. Written by the call path, read by the lease keeper.
final class AppActivity: Sendable {
    private struct Entry {
        var lastOutcome: Date?
        var allowedRate: Double?
    }

    private let entries = Mutex<[String: Entry]>([:])

    func outcome(app: String, at time: Date = Date()) {
        entries.withLock { $0[app, default: Entry()].lastOutcome = time }
    }

    func allowedRate(app: String, _ rate: Double) {
        entries.withLock { $0[app, default: Entry()].allowedRate = rate }
    }

    var lastOutcomeByApp: [String: Date] {
        entries.withLock { $0.compactMapValues(\.lastOutcome) }
    }

    /// The rate last allowed for `app`; nil before its first claim here, or when uncapped (0).
    func allowedRate(app: String) -> Double? {
        entries.withLock { $0[app]?.allowedRate }.flatMap { $0 > 0 ? $0 : nil }
    }
}
