import Foundation
import GrantQueue
import Postgres

/// Reads a bulk load's input on a thread of its own and hands it over in chunks
/// already encoded for COPY, a couple of chunks ahead of the connection that
/// stages and inserts them. Parsing the next lines and inserting the last ones
/// then run at the same time, on two cores, instead of one after the other.
///
/// `@unchecked Sendable`: the hand-over state is guarded by `condition`; the
/// input closures and the running tallies belong to the parse thread alone,
/// and `summary` is read only after the thread said it is finished.
final class BulkLoadParser: @unchecked Sendable {
    struct Chunk {
        var copyData: [UInt8] = []
        var rows = 0
        /// Over the input up to the end of this chunk: for progress, and to stop
        /// inserting once a line is known to be bad (nothing will be kept).
        var rowsSoFar = 0
        var bytesSoFar = 0
        var badLinesSoFar = 0
    }

    /// What the whole input held besides its jobs.
    struct Summary {
        /// The first `maxErrors` bad lines, in line order.
        var errors: [GrantJobFile.LineError] = []
        var badLines = 0
        var readFailure: (any Error)?
        /// Jobs read (good lines) and bytes read, at the end.
        var submitted = 0
        var bytesRead = 0
    }

    private let next: () throws -> GrantJobFile.Entry?
    private let position: () -> Int
    private let maxErrors: Int
    private let chunkRows: Int
    private let chunkBytes: Int
    private let depth: Int

    private let condition = NSCondition()
    private var ready: [Chunk] = []
    private var finished = false
    private var stopping = false
    private var result = Summary()

    /// `next` gives the input's entries and `position` the bytes read so far; both
    /// are called on the parse thread only.
    init(maxErrors: Int, chunkRows: Int = 10_000, chunkBytes: Int = 4 << 20, depth: Int = 2,
         next: @escaping () throws -> GrantJobFile.Entry?, position: @escaping () -> Int) {
        self.maxErrors = maxErrors
        self.chunkRows = chunkRows
        self.chunkBytes = chunkBytes
        self.depth = depth
        self.next = next
        self.position = position
    }

    func start() {
        let thread = Thread { [self] in parse() }
        thread.name = "bulk-load-parser"
        thread.start()
    }

    /// The next chunk, waiting for the parse thread; nil once the input is done.
    func nextChunk() -> Chunk? {
        condition.lock()
        defer { condition.unlock() }
        while ready.isEmpty && !finished { condition.wait() }
        guard !ready.isEmpty else { return nil }
        condition.broadcast()
        return ready.removeFirst()
    }

    /// Valid once `nextChunk()` returned nil.
    var summary: Summary {
        condition.lock()
        defer { condition.unlock() }
        return result
    }

    /// Lets the parse thread go without its remaining chunks being taken (after an
    /// error). It ends at its next hand-over; one blocked reading its input ends
    /// when the read returns, and what it reads is dropped.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func parse() {
        var summary = Summary()
        var chunk = Chunk()
        func handOver() -> Bool {
            chunk.rowsSoFar = summary.submitted
            chunk.bytesSoFar = position()
            chunk.badLinesSoFar = summary.badLines
            condition.lock()
            defer { condition.unlock() }
            while ready.count >= depth && !stopping { condition.wait() }
            guard !stopping else { return false }
            ready.append(chunk)
            condition.broadcast()
            chunk = Chunk()
            return true
        }
        func note(_ error: GrantJobFile.LineError) {
            summary.badLines += 1
            if summary.errors.count < maxErrors { summary.errors.append(error) }
        }
        reading: while true {
            let entry: GrantJobFile.Entry?
            do { entry = try next() } catch {
                summary.readFailure = error
                break
            }
            switch entry {
            case nil:
                break reading
            case .bad(let error)?:
                note(error)
            case .job(let line, let job)?:
                let mark = chunk.copyData.count
                guard PostgresConnection.appendCopyRow(GrantQueue.stagingRow(line: line, job), to: &chunk.copyData) else {
                    chunk.copyData.removeSubrange(mark...)
                    note(GrantJobFile.LineError(line: line, message: "contains a NUL byte, which PostgreSQL text cannot hold"))
                    continue
                }
                chunk.rows += 1
                summary.submitted += 1
                if chunk.rows >= chunkRows || chunk.copyData.count >= chunkBytes {
                    guard handOver() else { break reading }
                }
            }
        }
        if chunk.rows > 0 { _ = handOver() }
        summary.bytesRead = position()
        condition.lock()
        result = summary
        finished = true
        condition.broadcast()
        condition.unlock()
    }
}
