/// Where and how to connect.
public struct PostgresConfiguration: Sendable {
    /// A libpq conninfo string (`host=... dbname=...`) or URI (`postgresql://...`).
    /// `nil` leaves everything to libpq's `PG*` environment variables and defaults.
    public var conninfo: String?
    /// Settings that win over the conninfo, e.g. `["dbname": "other"]`.
    public var overrides: [String: String]
    /// Shown in `pg_stat_activity` unless the conninfo names its own.
    public var applicationName: String

    public init(conninfo: String? = nil, overrides: [String: String] = [:], applicationName: String = "visibility-worker") {
        self.conninfo = conninfo
        self.overrides = overrides
        self.applicationName = applicationName
    }
}

import CLibPQ

extension PostgresConfiguration {
    /// The effective settings as one `key='value'` conninfo string (overrides
    /// applied), e.g. to hand a derived database to a child process. Contains the
    /// password if the original did: do not log it.
    public func resolvedConninfo() throws -> String {
        var settings: [(String, String)] = []
        if let conninfo, !conninfo.isEmpty {
            var errorMessage: UnsafeMutablePointer<CChar>?
            guard let options = PQconninfoParse(conninfo, &errorMessage) else {
                let message = errorMessage.map { String(cString: $0) } ?? "invalid connection string"
                if let errorMessage { PQfreemem(errorMessage) }
                throw PostgresError(kind: .client, message: message.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            defer { PQconninfoFree(options) }
            var option = options
            while let keyword = option.pointee.keyword {
                if let value = option.pointee.val {
                    settings.append((String(cString: keyword), String(cString: value)))
                }
                option += 1
            }
        }
        // What `PostgresConnection.init` adds to every session, so the child connects alike.
        let defaults = ["fallback_application_name": applicationName, "client_encoding": "UTF8"]
        for (key, value) in defaults.merging(overrides, uniquingKeysWith: { $1 }).sorted(by: { $0.key < $1.key }) {
            settings.removeAll { $0.0 == key }
            settings.append((key, value))
        }
        return settings.map { key, value in
            let escaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
            return "\(key)='\(escaped)'"
        }.joined(separator: " ")
    }
}
