/// `NO_PROXY` as curl reads it: a comma-separated list of host names, domain
/// suffixes and IP addresses that are reached directly; `*` alone means every host.
/// `example.com` and `.example.com` both match `example.com` and `api.example.com`,
/// never `badexample.com`. Case does not matter; an entry's `:port` is ignored.
public struct NoProxyList: Sendable, Equatable {
    public let entries: [String]
    public let matchesEveryHost: Bool

    public init(_ text: String) {
        var entries: [String] = []
        var everyHost = false
        for item in text.split(separator: ",") {
            var entry = item.trimmingCharacters(in: .whitespaces).lowercased()
            if entry == "*" { everyHost = true; continue }
            if entry.hasPrefix("[") , let close = entry.firstIndex(of: "]") {
                entry = String(entry[entry.index(after: entry.startIndex)..<close])
            } else if entry.filter({ $0 == ":" }).count == 1, let colon = entry.firstIndex(of: ":") {
                entry = String(entry[..<colon])  // host:port; a bare IPv6 address has several colons
            }
            while entry.hasPrefix(".") { entry.removeFirst() }
            while entry.hasSuffix(".") { entry.removeLast() }
            if !entry.isEmpty { entries.append(entry) }
        }
        self.entries = entries
        self.matchesEveryHost = everyHost
    }

    /// True when `host` (as in a URL, IPv6 with or without brackets) must not go through the proxy.
    public func matches(host: String) -> Bool {
        if matchesEveryHost { return true }
        var name = host.lowercased()
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        while name.hasSuffix(".") { name.removeLast() }
        return entries.contains { entry in name == entry || name.hasSuffix("." + entry) }
    }
}
