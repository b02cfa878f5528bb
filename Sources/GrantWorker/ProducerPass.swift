/// A pass the producer thread runs between claims, each on its own schedule
/// (`DueJobStaging`, `ArrivalAdmission`): the pass keeps when it is next due,
/// and the producer reads it here, to run it or to sleep no longer than it.
protocol ProducerPass {
    var due: ContinuousClock.Instant { get }
}

extension ProducerPass {
    func isDue(at now: ContinuousClock.Instant) -> Bool { now >= due }

    func timeUntilDue(from now: ContinuousClock.Instant) -> Duration { max(.zero, now.duration(to: due)) }
}
