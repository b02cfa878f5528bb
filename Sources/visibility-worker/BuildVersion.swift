import CBuildInfo
import GrantQueue

/// What this binary is: the release number, the commit it was built from, and the
/// schemas it runs against.
enum BuildVersion {
    /// The release. scripts/package names the tarball and the .deb after it. It
    /// changes whenever `SchemaMigrator.requiredVersion` does: docs/OPERATIONS.md's
    /// table of releases gives each number its migration, and CommandLineTests
    /// fails when this build's pair is not its last row.
    static let number = "1.3.0"

    /// The git commit scripts/package built from (with `-dirty` for uncommitted
    /// changes), or `unknown` for a plain `swift build`.
    static var commit: String { String(cString: visibility_worker_build_commit()) }

    /// `1.3.0 (commit abc1234; requires migration 22, accepts schemas 22+)`: what
    /// `--version` prints first, `run` logs and `status` shows.
    static var description: String {
        let required = SchemaMigrator.requiredVersion
        return "\(number) (commit \(commit); requires migration \(required), accepts schemas \(required)+)"
    }

    /// What `--version` prints: the description, then what "accepts" means.
    static var versionText: String {
        let required = SchemaMigrator.requiredVersion
        return """
            \(description)
            runs against a schema migrated to \(required) or later; refused by one whose oldest_worker_schema is above \(required)
            """
    }
}
