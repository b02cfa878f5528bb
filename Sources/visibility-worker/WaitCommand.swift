import ArgumentParser
import Foundation
import GrantQueue
import Postgres
import QueueOperations

struct WaitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Wait for one job to finish; print its row as JSON and exit with its outcome.",
        discussion: """
            Exit status: 0 succeeded, 1 failed, 2 cancelled, 124 timed out (the row as
            it stands is printed), 3 no such job or the database could not be used.
            Listens on visibility_grant_jobs_done and reads the row once a second as
            well (only reads, with --pool-mode transaction).

            Examples:
              visibility-worker wait --id 4211
              visibility-worker wait --idempotency-key hr-sync-0042 --timeout 2m
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(name: .customLong("id"), help: "The job's id.")
    var id: Int64?

    @Option(help: "The job's idempotency key.")
    var idempotencyKey: String?

    @Option(help: "Give up after this long (exit 124).")
    var timeout = "30s"

    func validate() throws {
        guard (id == nil) != (idempotencyKey == nil) else { throw ValidationError("say which job: --id or --idempotency-key") }
        guard Settings.duration(timeout).map({ $0 > .zero }) == true else {
            throw ValidationError("--timeout: expected a duration above 0, like 30s")
        }
    }

    func run() throws {
        let limit = Settings.duration(timeout) ?? .seconds(30)
        let deadline = ContinuousClock.now + limit
        let result: GrantQueue.JobResult
        do {
            let logger = try common.makeLogger()
            let queue = GrantQueue(connection: try common.connect(logger: logger))
            // Listen before the first read, so a job that finishes in between is not missed.
            let notified = try queue.listenForFinishedJobs()
            guard var current = try queue.job(id: id, idempotencyKey: idempotencyKey) else {
                throw CommandError("no job with this \(id == nil ? "idempotency key" : "id")")
            }
            while !current.isFinished, ContinuousClock.now < deadline {
                let slice = min(ContinuousClock.now.duration(to: deadline), .seconds(1))
                if notified {
                    // Any finished id of ours ends the wait early; the read once a second covers lost notifications.
                    _ = try queue.waitForFinishedJobs(timeout: slice).contains(current.id)
                } else {
                    Thread.sleep(forTimeInterval: min(slice, .milliseconds(500)).seconds)
                }
                current = try queue.job(id: current.id, idempotencyKey: nil) ?? current
            }
            result = current
        } catch {
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            throw ExitCode(3)
        }
        print(JSONOutput.text(result))
        switch result.state {
        case "succeeded": return
        case "failed": throw ExitCode(1)
        case "cancelled": throw ExitCode(2)
        default: throw ExitCode(124)
        }
    }
}
