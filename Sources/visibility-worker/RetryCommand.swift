import ArgumentParser
import Foundation
import GrantQueue
import Postgres
import QueueOperations

struct RetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Put failed jobs back to pending, due now, with fresh attempts.",
        discussion: """
            Selects failed jobs by id, by last error code, and/or by when they failed;
            the parts given combine with AND, and at least one is required. Each job
            gets --attempts more attempts; its attempt counter keeps counting, so the
            audit trail stays unambiguous. Jobs in any other state are not touched.
            A retried job with an ordering key is applied again even if a newer job
            with the same key has succeeded since: check before retrying those.

            Examples:
              visibility-worker retry --id 4211 --id 4212
              visibility-worker retry --code Forbidden.AccessDenied.AccessTokenPermissionDenied
              visibility-worker retry --code system.busy --failed-since 2026-11-25T08:00:00Z
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(name: .customLong("id"), help: "A failed job's id (repeatable).")
    var ids: [Int64] = []

    @Option(name: .customLong("code"), help: "Failed jobs whose last error code is this (repeatable).")
    var codes: [String] = []

    @Option(help: "Failed at or after this time (ISO 8601).")
    var failedSince: String?

    @Option(help: "Failed before this time (ISO 8601).")
    var failedUntil: String?

    @Option(help: "Attempts each job gets anew (1-1000).")
    var attempts: Int32 = NewGrantJob.defaultMaxAttempts

    func run() throws {
        var selection = GrantQueue.RetrySelection()
        if !ids.isEmpty { selection.ids = ids }
        if !codes.isEmpty { selection.errorCodes = codes }
        selection.failedSince = try failedSince.map { try Settings.timestamp($0, flag: "--failed-since") }
        selection.failedUntil = try failedUntil.map { try Settings.timestamp($0, flag: "--failed-until") }
        guard !selection.isEmpty else {
            throw ValidationError("say which failed jobs: --id, --code, --failed-since and/or --failed-until")
        }
        guard (1...1000).contains(attempts) else { throw ValidationError("--attempts must be 1 to 1000") }
        let logger = try common.makeLogger()
        let queue = GrantQueue(connection: try common.connect(logger: logger))
        let count = try queue.retryFailed(selection, moreAttempts: attempts)
        print("retried \(count) failed job\(count == 1 ? "" : "s"), each with \(attempts) more attempt\(attempts == 1 ? "" : "s")")
    }
}
