import ArgumentParser
import GrantQueue
import QueueOperations

struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel pending jobs by id or idempotency key.",
        discussion: """
            Only pending jobs are cancelled; running and finished ones are left alone
            and counted. A cancelled job is finished: `prune` deletes it in time.

            Examples:
              visibility-worker cancel --id 4211
              visibility-worker cancel --idempotency-key hr-sync-0042 --idempotency-key hr-sync-0043
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(name: .customLong("id"), help: "A job id (repeatable).")
    var ids: [Int64] = []

    @Option(name: .customLong("idempotency-key"), help: "A job's idempotency key (repeatable).")
    var idempotencyKeys: [String] = []

    func run() throws {
        guard !(ids.isEmpty && idempotencyKeys.isEmpty) else {
            throw ValidationError("say which jobs: --id and/or --idempotency-key")
        }
        let logger = try common.makeLogger()
        let queue = GrantQueue(connection: try common.connect(logger: logger))
        let result = try queue.cancelPending(ids: ids, idempotencyKeys: idempotencyKeys)
        var line = "cancelled \(result.cancelled) pending job\(result.cancelled == 1 ? "" : "s")"
        if result.found > result.cancelled {
            line += "; \(result.found - result.cancelled) not pending (running or finished), left alone"
        }
        if result.unmatched > 0 {
            line += "; \(result.unmatched) id\(result.unmatched == 1 ? "" : "s") or key\(result.unmatched == 1 ? "" : "s") matched no job"
        }
        print(line)
    }
}
