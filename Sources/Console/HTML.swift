import Foundation

/// Building HTML text safely: every value that did not come from this file's
/// callers' literals goes through `escape` (producer strings such as
/// `opt_user_id` may hold markup).
enum HTML {
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    static func escape(_ text: String?, empty: String = "—") -> String {
        text.map { escape($0) } ?? empty
    }

    /// A query string from the non-nil fields, percent-encoded.
    static func query(_ fields: [(String, String?)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let parts = fields.compactMap { name, value in
            value.map { "\(name)=\($0.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }
        }
        return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
    }

    static func time(_ date: Date?) -> String {
        guard let date else { return "—" }
        return escape(date.formatted(Date.ISO8601FormatStyle(dateSeparator: .dash, dateTimeSeparator: .space, timeZone: .gmt)))
    }

    /// Seconds as a short age: "42 s", "3 min", "2.5 h".
    static func age(_ seconds: Double) -> String {
        switch seconds {
        case ..<120: return String(format: "%.0f s", seconds)
        case ..<7200: return String(format: "%.0f min", seconds / 60)
        default: return String(format: "%.1f h", seconds / 3600)
        }
    }

    static func number(_ value: Int) -> String {
        // 1234567 -> "1,234,567"
        let digits = Array(String(value.magnitude))
        var grouped = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { grouped.append(",") }
            grouped.append(digit)
        }
        return (value < 0 ? "-" : "") + grouped
    }
}
