/// How many jobs one app's turn claims, from what holds it back now (docs/DESIGN.md,
/// A job's path, step 3): the app's rate, a host-wide probe, the app's own probe,
/// and outcomes the completer has not written yet. Apart from the producer's
/// threads and connection, so each rule has a unit test.
struct ClaimSize {
    enum Decision: Equatable {
        /// Claim up to this many.
        case claim(Int)
        /// The app's rate has no call left within the horizon: skip it for this long.
        case appNotReady(for: Duration)
        /// Claim nothing for a moment, for any app: a probe call is out, or the
        /// completer is behind.
        case holdOff(Duration)
    }

    var batchSize: Int

    /// Outcomes waiting to be written beyond which nothing is claimed: the producer
    /// never runs more than a few batches ahead of the database.
    var unwrittenLimit: Int { max(4 * batchSize, 2 * Completer.maxBatch) }

    func decide(rate: (calls: Int, retryAfter: Duration), hostProbing: Bool, callsInFlight: Int, probeTurn: Bool,
                unwrittenOutcomes: Int, fleetClaimSize: Int?) -> Decision {
        guard rate.calls > 0 else { return .appNotReady(for: rate.retryAfter) }
        var wanted = min(batchSize, rate.calls)
        if hostProbing {
            // One probe call at a time until the API answers normally again.
            guard callsInFlight == 0 else { return .holdOff(.milliseconds(50)) }
            wanted = 1
        }
        if probeTurn { wanted = 1 }
        if unwrittenOutcomes > unwrittenLimit { return .holdOff(.milliseconds(5)) }
        if let fleetClaimSize { wanted = min(wanted, fleetClaimSize) }
        return .claim(wanted)
    }
}
