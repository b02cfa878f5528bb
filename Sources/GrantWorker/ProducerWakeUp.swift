import Dispatch
import Synchronization

/// Wakes an idle producer that has no notifications to wait on (transaction pool
/// mode: no LISTEN). The completer raises it when it wrote finished jobs, because
/// the next job of a finished job's ordering key is claimable from that moment;
/// a stop request raises it too. However often it is raised meanwhile, one wait
/// takes it, so a busy producer never finds a pile of stale wake-ups.
final class ProducerWakeUp: Sendable {
    private let raised = Atomic<Bool>(false)
    private let semaphore = DispatchSemaphore(value: 0)

    func raise() {
        if !raised.exchange(true, ordering: .acquiringAndReleasing) { semaphore.signal() }
    }

    /// Waits up to `timeout`; true when it was raised. A raise that lands while the
    /// woken producer gets going needs no wake-up of its own: the claim that follows sees it.
    func wait(timeout: Duration) -> Bool {
        guard semaphore.wait(timeout: .now() + timeout.dispatchTimeInterval) == .success else { return false }
        raised.store(false, ordering: .releasing)
        return true
    }
}
