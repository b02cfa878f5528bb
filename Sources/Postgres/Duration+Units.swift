extension Duration {
    /// In seconds, as SQL intervals (`make_interval(secs => …)`) and Dispatch take it.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// In whole nanoseconds, as metrics timers take it.
    public var wholeNanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
