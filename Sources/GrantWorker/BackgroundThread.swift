import Dispatch
import Foundation
import Synchronization

/// A named thread running one loop, with what every such loop needs: a wake-up,
/// a stop flag, and a stop that waits a bounded time for the loop to end. The
/// lease keeper, the completer and the pruner each run on one.
final class BackgroundThread: Sendable {
    let name: String
    private let wakeUp = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    init(name: String) {
        self.name = name
    }

    var isStopping: Bool { stopping.load(ordering: .acquiring) }

    /// Runs `loop` on a new thread; `loop` returns once `isStopping`.
    func start(_ loop: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            loop()
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Ends a `wait` early (one signal ends one wait).
    func wake() {
        wakeUp.signal()
    }

    /// Waits until `wake`, `stop` or the timeout; true when woken, false on timeout.
    @discardableResult
    func wait(_ timeout: Duration) -> Bool {
        wakeUp.wait(timeout: .now() + timeout.dispatchTimeInterval) == .success
    }

    /// Waits until `wake`, `stop` or `deadline`; true when woken.
    @discardableResult
    func wait(until deadline: DispatchTime) -> Bool {
        wakeUp.wait(timeout: deadline) == .success
    }

    /// Waits for a wake-up that may never come (the loop has nothing to do).
    func waitForWake() {
        wakeUp.wait()
    }

    /// Asks the loop to end, wakes it, and waits for it at most `timeout`.
    /// Returns false when the loop was still running at the deadline.
    @discardableResult
    func stop(timeout: Duration) -> Bool {
        stopping.store(true, ordering: .releasing)
        wakeUp.signal()
        return finished.wait(timeout: .now() + timeout.dispatchTimeInterval) == .success
    }
}
