/// Decides, from the configured rates, whether a grant call fails on purpose.
struct FaultDice {
    enum Fault: String { case systemBusy = "system.busy", timeout, reset, html }

    let rates: FakeDingTalkOptions.FaultRates

    /// Draws from `random` only when some rate is set, so a run without faults
    /// leaves the request ids of a seeded run as they were.
    func roll(_ random: inout SplitMix64) -> Fault? {
        guard rates.systemBusy + rates.timeout + rates.reset + rates.html > 0 else { return nil }
        let roll = random.nextUnit()
        var threshold = rates.systemBusy
        if roll < threshold { return .systemBusy }
        threshold += rates.timeout
        if roll < threshold { return .timeout }
        threshold += rates.reset
        if roll < threshold { return .reset }
        threshold += rates.html
        if roll < threshold { return .html }
        return nil
    }
}
