import ArgumentParser
import GrantQueue
import QueueHotPath

struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete finished jobs, and their attempt rows, older than a duration.",
        discussion: """
            Finished means succeeded, failed or cancelled; age counts from finished_at.
            Rows go in small batches, each its own short transaction, so running
            workers never wait on it. `run --retention` does the same periodically.

            Examples:
              visibility-worker prune --older-than 30d
              visibility-worker prune --older-than 12h --batch-size 5000
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "Delete jobs finished longer ago than this (e.g. 7d, 12h).")
    var olderThan: String

    @Option(help: "Jobs deleted per transaction (1-100000).")
    var batchSize = 1000

    func run() throws {
        guard let age = Settings.duration(olderThan) else {
            throw ValidationError("--older-than: expected a duration like 7d or 12h")
        }
        guard (1...100_000).contains(batchSize) else { throw ValidationError("--batch-size must be 1 to 100000") }
        let logger = try common.makeLogger()
        let queue = GrantQueue(connection: try common.connect(logger: logger))
        let progress = TerminalProgress("prune", unit: "jobs")
        let total = try queue.prune(olderThan: age, batchSize: batchSize, progress: { progress.update($0.jobs) })
        progress.finish()
        print("deleted \(total.jobs) finished job\(total.jobs == 1 ? "" : "s") and \(total.attempts) attempt row\(total.attempts == 1 ? "" : "s") older than \(olderThan)")
    }
}
