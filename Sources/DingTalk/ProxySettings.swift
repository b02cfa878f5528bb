import Foundation

/// An HTTP proxy the API calls go through, as curl reads one from a URL
/// (`http://user:password@proxy.example:3128`). Every call (the token fetch
/// included) goes through a CONNECT tunnel, whether the API URL is https or http.
///
/// `description` never shows the credentials: it is what logs, `status` and
/// error messages name the proxy by.
public struct ProxySettings: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// Sent as `Proxy-Authorization: Basic …` on CONNECT.
    public var username: String?
    public var password: String?
    /// Where the setting came from (`--proxy`, `HTTPS_PROXY`, …), for the startup log.
    public var source: String

    /// curl's default when a proxy URL names no port.
    public static let defaultPort = 1080

    public init(host: String, port: Int, username: String? = nil, password: String? = nil, source: String) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.source = source
    }

    /// Reads `[http://][user[:password]@]host[:port][/]`. User and password may be
    /// percent-encoded. Errors name `source` but never repeat the URL (it may hold a password).
    public init(url text: String, source: String) throws(EgressConfigurationError) {
        var rest = text.trimmingCharacters(in: .whitespaces)
        if let schemeEnd = rest.range(of: "://") {
            let scheme = rest[..<schemeEnd.lowerBound].lowercased()
            guard scheme == "http" else {
                throw EgressConfigurationError("\(source): proxy scheme '\(scheme)' is not supported; use an http:// proxy (https targets are tunnelled with CONNECT)")
            }
            rest = String(rest[schemeEnd.upperBound...])
        }
        // Only the authority matters; a trailing "/" (or path) is ignored, as curl does.
        if let slash = rest.firstIndex(of: "/") { rest = String(rest[..<slash]) }
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = String(rest[rest.index(after: at)...])
            let parts = userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            username = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            if parts.count == 2 { password = String(parts[1]).removingPercentEncoding ?? String(parts[1]) }
            if username?.isEmpty == true { username = nil }
        }
        var host = rest
        var port = Self.defaultPort
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw EgressConfigurationError("\(source): unbalanced '[' in the proxy address") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { port = try Self.port(String(after.dropFirst()), source: source) }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            port = try Self.port(String(rest[rest.index(after: colon)...]), source: source)
        }
        guard !host.isEmpty else { throw EgressConfigurationError("\(source): the proxy URL names no host") }
        self.init(host: host, port: port, username: username, password: password, source: source)
    }

    private static func port(_ text: String, source: String) throws(EgressConfigurationError) -> Int {
        guard let port = Int(text), (1...65535).contains(port) else {
            throw EgressConfigurationError("\(source): the proxy port must be a number in 1...65535")
        }
        return port
    }

    /// `http://host:port`, without credentials.
    public var description: String {
        "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }

    public var hasCredentials: Bool { username != nil }
}

/// A setting that cannot be used; the message names the flag or variable, and
/// leaves out any password.
public struct EgressConfigurationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
