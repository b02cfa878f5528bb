/// Sliding one-second window per app key: at most `limit` admitted calls in any second.
struct QPSWindow {
    private var recentCalls: [String: [ContinuousClock.Instant]] = [:]

    /// Admits the call and remembers it, or refuses it. `now` must not go backwards
    /// between calls (the caller holds the fake's lock while reading its clock).
    mutating func admit(appKey: String, now: ContinuousClock.Instant, limit: Double) -> Bool {
        // Changed in place through the subscript: copying the window out costs O(limit) a call.
        let windowStart = now - .seconds(1)
        let expired = recentCalls[appKey].map { $0.firstIndex { $0 > windowStart } ?? $0.count } ?? 0
        recentCalls[appKey, default: []].removeFirst(expired)
        let admitted = Double(recentCalls[appKey, default: []].count) < limit
        if admitted { recentCalls[appKey, default: []].append(now) }
        return admitted
    }
}
