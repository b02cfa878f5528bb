import Foundation

/// A progress line on standard error, redrawn in place at most ten times a
/// second, shown only when standard error is a terminal (quiet when piped).
final class TerminalProgress {
    private let label: String
    private let unit: String
    private let enabled: Bool
    private let started = ContinuousClock.now
    private var lastDrawn: ContinuousClock.Instant?
    private var drew = false

    init(_ label: String, unit: String = "rows") {
        self.label = label
        self.unit = unit
        self.enabled = isatty(STDERR_FILENO) == 1
    }

    func update(_ count: Int, detail: String = "") {
        guard enabled else { return }
        let now = ContinuousClock.now
        if let lastDrawn, now - lastDrawn < .milliseconds(100) { return }
        lastDrawn = now
        let elapsed = (now - started).seconds
        let rate = elapsed > 0 ? Int(Double(count) / elapsed) : 0
        let line = "\r\u{1B}[K\(label): \(count) \(unit), \(rate) \(unit)/s\(detail.isEmpty ? "" : ", " + detail)"
        FileHandle.standardError.write(Data(line.utf8))
        drew = true
    }

    /// Ends the line so the next output starts clean.
    func finish() {
        guard enabled, drew else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
