import Dispatch
import Foundation

extension GrantWorker {
    /// After a stop request, claims may take another moment; outcomes may be
    /// written until the drain is over plus this. Together with the pauses below
    /// they bound the whole shutdown at about `drainTimeout + 10 s`, whatever the
    /// database does (docs/DESIGN.md, Database paths).
    static let claimsGrace: Duration = .seconds(1)
    static let writesGrace: Duration = .seconds(5)
    /// How long after the writes' cutoff the completer thread is waited for (it
    /// may be in a reconnect, which libpq bounds by `connect_timeout`).
    static let completerGrace: Duration = .seconds(2)

    /// Starts the clock of the shutdown once: from now on no database wait may go
    /// past its cutoff, so a hung database cannot hold the process.
    func beginShutdown() {
        let start = shutdownStartedAt.withLock { started -> ContinuousClock.Instant? in
            guard started == nil else { return nil }
            started = .now
            return started
        }
        guard let start else { return }
        claimsCutoff.set(start + Self.claimsGrace)
        writesCutoff.set(start + options.drainTimeout + Self.writesGrace)
    }

    /// Lets in-flight calls finish until the drain timeout (counted from the stop
    /// request), hands back what did not, and has the completer write what it holds.
    func drain() {
        let start = shutdownStartedAt.withLock { $0 } ?? .now
        let deadline = start + options.drainTimeout
        // Every permit back means every call has finished.
        var returned = 0
        while returned < options.concurrency {
            if stopRequested.load(ordering: .sequentiallyConsistent) > 1 { break }
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { break }
            if slots.wait(timeout: .now() + min(remaining, .milliseconds(200)).dispatchTimeInterval) == .success {
                returned += 1
            }
        }
        returnSlots(returned)
        let unfinished = inFlight.removeAll()
        if !unfinished.isEmpty {
            logger.warning("drain timeout: handing unfinished jobs back", metadata: ["jobs": "\(unfinished.count)"])
            handBack(unfinished, until: Date())
        }
        let completerDeadline = deadline + Self.writesGrace + Self.completerGrace
        if !completer.stop(timeout: max(.zero, ContinuousClock.now.duration(to: completerDeadline))) {
            logger.error("could not write every outcome before exiting; those jobs run again when their leases expire",
                         metadata: ["unwritten": "\(completer.unwrittenCount)"])
        }
        // Last: the completer's jobs kept their leases while it wrote.
        leaseKeeper.stop(timeout: max(Self.completerGrace, ContinuousClock.now.duration(to: completerDeadline)))
    }
}
