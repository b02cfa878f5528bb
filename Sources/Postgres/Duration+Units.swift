extension Duration {
    /// In seconds, as SQL intervals (`make_interval(secs => …)`) take it.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
