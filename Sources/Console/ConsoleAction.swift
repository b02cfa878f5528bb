/// The two changes the console can make, with the words its pages use for them.
enum ConsoleAction: String, Sendable {
    case retry, cancel

    /// The state a job must be in for the action to touch it.
    var targetState: String { self == .retry ? "failed" : "pending" }
    var verb: String { rawValue }
    var title: String { self == .retry ? "Retry" : "Cancel" }
    var pastTense: String { self == .retry ? "retries" : "cancels" }
    var explanation: String {
        self == .retry
            ? "Each goes back to pending, due now, with fresh attempts, as `visibility-worker retry` does."
            : "Each is marked cancelled and will not be applied, as `visibility-worker cancel` does; running and finished jobs are left alone."
    }
}
