import Foundation
import Synchronization

/// App secrets as files, one per app key, named after the key: the layout of a
/// Kubernetes Secret mounted as a volume (`DINGTALK_APP_SECRETS_DIR`). Names that
/// start with a dot (the mount's own `..data` links) are not keys.
///
/// A secret is read from its file whenever a token is fetched, so a rotated file
/// is used at the next fetch (and a refused fetch, the next one, reads it again);
/// `reload()` re-reads the whole folder (on SIGHUP) and says which keys changed.
public final class AppSecretsDirectory: Sendable {
    public let path: String
    private let secrets = Mutex<[String: String]>([:])

    /// Reads the folder once; throws a clear error when it cannot be listed.
    public init(path: String) throws(AppSecretsError) {
        self.path = path
        guard (try? FileManager.default.contentsOfDirectory(atPath: path)) != nil else {
            throw AppSecretsError("DINGTALK_APP_SECRETS_DIR: cannot list \(path)")
        }
        _ = reload()
    }

    /// The app keys that have a non-empty secret file.
    public var appKeys: Set<String> { secrets.withLock { Set($0.keys) } }

    /// Re-reads every file; returns the keys whose secret appeared, changed or went away.
    @discardableResult
    public func reload() -> Set<String> {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { !$0.hasPrefix(".") }
        var fresh: [String: String] = [:]
        for name in names {
            if let secret = readFile(name) { fresh[name] = secret }
        }
        return secrets.withLock { known in
            let changed = Set(known.keys).union(fresh.keys).filter { known[$0] != fresh[$0] }
            known = fresh
            return changed
        }
    }

    /// The secret of `appKey` as its file holds it now; `nil` when there is none.
    public func secret(forKey appKey: String) -> String? {
        guard !appKey.hasPrefix("."), !appKey.contains("/") else { return nil }
        let secret = readFile(appKey)
        secrets.withLock { $0[appKey] = secret }
        return secret
    }

    private func readFile(_ name: String) -> String? {
        let file = URL(fileURLWithPath: path).appendingPathComponent(name).path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue,
              let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return secret.isEmpty ? nil : secret
    }
}

public struct AppSecretsError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
