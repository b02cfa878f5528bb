/// The two changes the console can make, with the words its pages use for them.
enum ConsoleAction: String, Sendable {
    case retry, cancel

    /// The state a job must be in for the action to touch it.
    var targetState: String { self == .retry ? "failed" : "pending" }
    var verb: String { rawValue }
    var title: String { self == .retry ? "Retry" : "Cancel" }
    var pastTense: String { self == .retry ? "retries" : "cancels" }
    /// HTML (a literal: nothing to escape).
    var explanation: String {
        self == .retry
            ? "Each goes back to pending, due now, with fresh attempts, as <code>visibility-worker retry</code> does."
            : "Each is marked cancelled and will not be applied, as <code>visibility-worker cancel</code> does; running and finished jobs are left alone."
    }
}
