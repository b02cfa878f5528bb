import Foundation

extension SchemaMigrator {
    /// Where `sql/` is: `explicit` if given; otherwise a `sql/` folder (or
    /// `share/visibility-worker/sql`) beside the executable or in one of its
    /// parents, which covers both a checkout's `.build/…/visibility-worker` and an
    /// install prefix; last, `./sql`.
    public static func locateDirectory(explicit: String?, executablePath: String) throws -> URL {
        let fileManager = FileManager.default
        func hasMigrations(_ url: URL) -> Bool {
            (try? fileManager.contentsOfDirectory(atPath: url.path))?.contains { $0.hasSuffix(".sql") } ?? false
        }
        if let explicit {
            let url = URL(fileURLWithPath: explicit)
            guard hasMigrations(url) else {
                throw MigrationError(description: "no .sql migrations in \(explicit)")
            }
            return url
        }
        var directory = URL(fileURLWithPath: executablePath).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            for candidate in ["sql", "share/visibility-worker/sql"] {
                let url = directory.appendingPathComponent(candidate)
                if hasMigrations(url) { return url }
            }
            directory.deleteLastPathComponent()
        }
        let local = URL(fileURLWithPath: "sql")
        if hasMigrations(local) { return local }
        throw MigrationError(description:
            "cannot find the sql/ migrations folder; pass --migrations-dir or set VISIBILITY_WORKER_MIGRATIONS_DIR")
    }
}
