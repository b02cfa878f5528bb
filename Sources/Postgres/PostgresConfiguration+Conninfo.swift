import CLibPQ

extension PostgresConfiguration {
    /// The conninfo's settings as libpq parses them (URI or `key=value`), in order.
    func parsedConninfo() throws -> [(String, String)] {
        guard let conninfo, !conninfo.isEmpty else { return [] }
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorMessage) else {
            let message = errorMessage.map { String(cString: $0) } ?? "invalid connection string"
            if let errorMessage { PQfreemem(errorMessage) }
            throw PostgresError(kind: .client, message: message.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        defer { PQconninfoFree(options) }
        var settings: [(String, String)] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                settings.append((String(cString: keyword), String(cString: value)))
            }
            option += 1
        }
        return settings
    }

    /// The effective settings as one `key='value'` conninfo string (overrides
    /// applied), e.g. to hand a derived database to a child process. Contains the
    /// password if the original did: do not log it.
    public func resolvedConninfo() throws -> String {
        var settings = try parsedConninfo()
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

    /// Whether `conninfo` (URI or `key=value`) carries a password: as the URI's
    /// user info, a `password` query parameter or a `password` keyword. Text libpq
    /// cannot parse counts as carrying one if it looks like it might, so a typo
    /// does not let a password through.
    public static func conninfoCarriesPassword(_ conninfo: String) -> Bool {
        if let settings = try? PostgresConfiguration(conninfo: conninfo).parsedConninfo() {
            return settings.contains { $0.0 == "password" && !$0.1.isEmpty }
        }
        let lowered = conninfo.lowercased()
        return lowered.contains("password") || lowered.contains(#/^postgres(ql)?://[^/?#@]*:[^/?#@]*@/#)
    }

    /// `host:port/dbname` as configured, for logs: never the user or password.
    /// Hosts and ports left to libpq's environment or defaults show as `default`.
    public var displayName: String {
        var settings = Dictionary((try? parsedConninfo()) ?? [], uniquingKeysWith: { $1 })
        settings.merge(overrides) { $1 }
        let host = settings["host"] ?? settings["hostaddr"] ?? "default"
        let port = settings["port"].map { ":\($0)" } ?? ""
        let database = settings["dbname"].map { "/\($0)" } ?? ""
        return host + port + database
    }
}
