import Foundation
import NIOHTTP1

/// One request as the console's routes see it: path, query and form fields
/// decoded, headers kept for the security checks.
struct ConsoleRequest: Sendable {
    var method: HTTPMethod
    var path: String
    var query: [String: String]
    var form: [String: String]
    var headers: HTTPHeaders

    init(head: HTTPRequestHead, body: [UInt8]) {
        method = head.method
        headers = head.headers
        let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = parts.first.map(String.init) ?? "/"
        query = parts.count > 1 ? Self.decodeFields(String(parts[1])) : [:]
        let isForm = head.headers.first(name: "Content-Type")?.lowercased().hasPrefix("application/x-www-form-urlencoded") ?? false
        form = isForm ? Self.decodeFields(String(decoding: body, as: UTF8.self)) : [:]
    }

    /// `a=1&b=x+y` as fields; the first of a repeated name wins, empty values are dropped.
    static func decodeFields(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let nameAndValue = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (part: Substring) in
                part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            guard let name = nameAndValue.first.map(decode), !name.isEmpty else { continue }
            let value = nameAndValue.count > 1 ? decode(nameAndValue[1]) : ""
            if !value.isEmpty, fields[name] == nil { fields[name] = value }
        }
        return fields
    }

    /// The value of cookie `name`, if the request carries it.
    func cookie(_ name: String) -> String? {
        for header in headers[canonicalForm: "Cookie"] {
            for pair in header.split(separator: ";") {
                let nameAndValue = pair.split(separator: "=", maxSplits: 1)
                if nameAndValue.count == 2, nameAndValue[0].trimmingCharacters(in: .whitespaces) == name {
                    return String(nameAndValue[1]).trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }

    /// True when a browser says the request comes from a page of this console:
    /// `Sec-Fetch-Site: same-origin` and/or an `Origin` naming the `Host` it was
    /// sent to. A request with neither is refused: every current browser sends one
    /// with a POST, so only a cross-site form or a script could lack both.
    var comesFromThisOrigin: Bool {
        let fetchSite = headers.first(name: "Sec-Fetch-Site")?.lowercased()
        let origin = headers.first(name: "Origin")
        guard fetchSite != nil || origin != nil else { return false }
        if let fetchSite, fetchSite != "same-origin" { return false }
        if let origin {
            guard let host = headers.first(name: "Host"), !host.isEmpty else { return false }
            return origin == "http://\(host)" || origin == "https://\(host)"
        }
        return true
    }

    /// True when the `Host` header names a loopback address (guards a console without
    /// a token against DNS rebinding: a foreign name that resolves to 127.0.0.1).
    var isAddressedToLoopback: Bool {
        guard let host = headers.first(name: "Host") else { return false }
        let name: Substring
        if host.hasPrefix("[") {
            name = host.dropFirst().prefix { $0 != "]" }
        } else {
            name = host.prefix { $0 != ":" }
        }
        return ConsoleServer.isLoopback(String(name))
    }
}
