import ArgumentParser
import BulkImport
import Foundation
import GrantQueue
import Logging
import Postgres
import QueueOperations

struct EnqueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Queue one grant from flags, or many from a CSV or JSON Lines file.",
        discussion: """
            A file is read once, as a stream, in one transaction: any size takes the
            same memory. If a line is bad nothing goes in, and the first --max-errors
            bad lines are reported with their numbers and the rule each broke. Rows
            whose idempotency_key is already taken are skipped; lines that repeat a
            key of an earlier line are listed.

            CSV needs a header naming its columns (to_corp_ids and opt_user_id at
            least; also fields, idempotency_key, ordering_key, priority, run_at,
            max_attempts, app, traceparent); list cells separate values with | or a comma. JSON Lines
            takes one object per line with the same keys.

            Examples:
              visibility-worker enqueue --corp-id ding123 --corp-id ding456 \\
                  --opt-user-id 102530009661373952 --field mobile --field status
              visibility-worker enqueue --file grants.csv
              producer | visibility-worker enqueue --file - --format jsonl
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(name: .customLong("corp-id"), help: "A corp id to make the account visible in (repeatable).")
    var corpIDs: [String] = []

    @Option(name: .customLong("opt-user-id"), help: "The operating user's id.")
    var optUserID: String?

    @Option(name: .customLong("field"), help: "mobile or status (repeatable; none means mobile only).")
    var fields: [String] = []

    @Option(help: "Makes a re-insert a no-op.")
    var idempotencyKey: String?

    @Option(help: "Jobs sharing this key are applied one at a time, in id order.")
    var orderingKey: String?

    @Option(help: "Higher runs first: -100 to 100.")
    var priority: Int16 = 0

    @Option(help: "Not before this time (ISO 8601, e.g. 2026-11-25T14:40:00Z).")
    var runAt: String?

    @Option(help: "Attempts before the job fails.")
    var maxAttempts: Int32 = NewGrantJob.defaultMaxAttempts

    @Option(help: "The DingTalk app (a name from `apps list`) whose credentials apply. (default: default)")
    var app: String = GrantApp.defaultName

    @Option(help: "The W3C traceparent (00-<trace id>-<span id>-<flags>) of the span that queues the job, kept with it.")
    var traceparent: String?

    @Option(help: "Read jobs from this file ('-' for standard input).")
    var file: String?

    @Option(help: "File format: csv or jsonl (default: from the file's extension).")
    var format: String?

    @Option(help: "Most bad lines (and repeated keys) listed from a file; all are counted.")
    var maxErrors = 100

    func validate() throws {
        if file != nil, !(corpIDs.isEmpty && optUserID == nil) {
            throw ValidationError("give either --file or the flags of one job (--corp-id, --opt-user-id), not both")
        }
        if file == nil, corpIDs.isEmpty || optUserID == nil {
            throw ValidationError("one job needs --corp-id and --opt-user-id (or use --file)")
        }
        if maxErrors < 1 { throw ValidationError("--max-errors must be at least 1") }
    }

    func run() throws {
        let logger = try common.makeLogger()
        if let file {
            try enqueueFile(file, logger: logger)
            return
        }
        var job = NewGrantJob(
            toCorpIds: corpIDs, optUserId: optUserID ?? "", fields: fields, idempotencyKey: idempotencyKey,
            orderingKey: orderingKey, priority: priority, maxAttempts: maxAttempts, app: app, traceparent: traceparent
        )
        job.runAt = try runAt.map { try Settings.timestamp($0, flag: "--run-at") }
        let problems = job.problems()
        guard problems.isEmpty else { throw CommandError(problems.joined(separator: "\n")) }
        let queue = GrantQueue(connection: try common.connect(logger: logger, defaultTimeout: nil))
        switch try queue.enqueue(job) {
        case .inserted(let id):
            print("enqueued job \(id)")
        case .duplicate(let id):
            print("job \(id) already has this idempotency key; nothing inserted")
        }
    }

    private func enqueueFile(_ path: String, logger: Logger) throws {
        let resolvedFormat: GrantJobFile.Format
        if let format {
            guard let parsed = GrantJobFile.Format(rawValue: format.lowercased()) else {
                throw ValidationError("--format must be csv or jsonl")
            }
            resolvedFormat = parsed
        } else if let guessed = GrantJobFile.Format(path: path) {
            resolvedFormat = guessed
        } else {
            throw ValidationError("cannot tell the format of \(path) from its name; pass --format csv or --format jsonl")
        }
        let descriptor = path == "-" ? STDIN_FILENO : open(path, O_RDONLY)
        guard descriptor >= 0 else { throw CommandError("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { if descriptor != STDIN_FILENO { close(descriptor) } }
        var status = stat()
        let size = fstat(descriptor, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG ? Int(status.st_size) : nil

        let started = ContinuousClock.now
        let queue = GrantQueue(connection: try common.connect(logger: logger, defaultTimeout: nil))
        let progress = TerminalProgress("enqueue")
        let result = try queue.enqueue(from: GrantJobFile.Reader(descriptor: descriptor, format: resolvedFormat),
                                       maxErrors: maxErrors) { rows, bytes in
            progress.update(rows, detail: size.map { "\(bytes * 100 / max($0, 1))% of \(path)" } ?? "\(bytes / 1_048_576) MiB read")
        }
        progress.finish()
        guard result.submitted > 0 else {
            print("no jobs in \(path)")
            return
        }
        for repeated in result.repeatedKeys { FileHandle.standardError.write(Data("\(repeated)\n".utf8)) }
        if result.repeatedKeyCount > result.repeatedKeys.count {
            FileHandle.standardError.write(Data("… and \(result.repeatedKeyCount - result.repeatedKeys.count) more lines repeating a key\n".utf8))
        }
        let elapsed = (ContinuousClock.now - started).seconds
        let rate = elapsed > 0 ? Int(Double(result.submitted) / elapsed) : 0
        print("enqueued \(result.inserted) of \(result.submitted) jobs (\(result.duplicates) duplicate idempotency keys skipped) in \(String(format: "%.2f", elapsed)) s, \(rate) rows/s")
    }
}
