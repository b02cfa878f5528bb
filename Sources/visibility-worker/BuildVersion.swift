import CBuildInfo

/// What this binary is: the release number and the commit it was built from.
enum BuildVersion {
    /// The release. scripts/package names the tarball and the .deb after it.
    static let number = "1.0.0"

    /// The git commit scripts/package built from (with `-dirty` for uncommitted
    /// changes), or `unknown` for a plain `swift build`.
    static var commit: String { String(cString: visibility_worker_build_commit()) }

    /// `1.0.0 (commit abc1234)`: what `--version` prints, `run` logs and `status` shows.
    static var description: String { "\(number) (commit \(commit))" }
}
