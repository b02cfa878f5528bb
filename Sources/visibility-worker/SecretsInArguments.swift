import ArgumentParser
import DingTalk
import Foundation
import Postgres

/// Flags that could carry a secret refuse it: a command line is readable by
/// every user of the host (`ps`, /proc/PID/cmdline) and lands in shell history.
/// The refusal is a usage error (exit status 2), names where the secret belongs,
/// and never repeats the flag's value.
enum SecretsInArguments {
    static let usageExitCode = ExitCode(2)

    static let databaseURLMessage = """
        --database-url must not carry a password: a command line is visible to every user of this host. \
        Give the URL in DATABASE_URL instead, or keep the password in PGPASSWORD or a PGPASSFILE.
        """

    static let proxyMessage = """
        --proxy must not carry credentials: a command line is visible to every user of this host. \
        Give the proxy URL with its credentials in DINGTALK_PROXY instead (for example from a file: \
        DINGTALK_PROXY="$(cat /run/secrets/proxy-url)").
        """

    /// Refuses `--database-url` when it names a password.
    static func checkDatabaseURL(_ flag: String?) throws {
        guard let flag, PostgresConfiguration.conninfoCarriesPassword(flag) else { return }
        throw refuse(databaseURLMessage)
    }

    /// Refuses `--proxy` when it names a user or a password.
    static func checkProxy(_ flag: String?) throws {
        guard let flag, proxyCarriesCredentials(flag) else { return }
        throw refuse(proxyMessage)
    }

    /// Any user info (`user@`, `user:password@`) counts, whether or not the URL is otherwise valid.
    static func proxyCarriesCredentials(_ text: String) -> Bool {
        if let proxy = try? ProxySettings(url: text, source: "--proxy") { return proxy.hasCredentials || proxy.password != nil }
        var authority = Substring(text)
        if let schemeEnd = authority.range(of: "://") { authority = authority[schemeEnd.upperBound...] }
        if let slash = authority.firstIndex(of: "/") { authority = authority[..<slash] }
        return authority.contains("@")
    }

    /// Says why on standard error and returns the usage exit status to throw.
    private static func refuse(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
        return usageExitCode
    }
}
