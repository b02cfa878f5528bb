import CLibPQ
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension PostgresConnection {
    /// The moment the statement about to be waited for must have answered by:
    /// its own timeout, or the shared cutoff if that comes first.
    func waitDeadline() -> ContinuousClock.Instant? {
        let own = configuration.timeout.map { ContinuousClock.now + $0 }
        guard let cutoff = configuration.cutoff?.deadline else { return own }
        return own.map { min($0, cutoff) } ?? cutoff
    }

    /// Collects every result of the statement just sent (`sent` is what the
    /// `PQsend…` call returned) within the deadline. Returns the last result's
    /// rows, or throws the first error once the statement is over.
    @discardableResult
    func awaitResults(sent: Int32) throws -> PostgresRows {
        guard sent == 1 else { throw connectionError() }
        let deadline = waitDeadline()
        var rows = PostgresRows(columns: [], cells: [], affectedRows: 0)
        var failure: PostgresError?
        while let result = try nextResult(until: deadline) {
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
                rows = copyRows(result)
            case PGRES_COPY_IN:
                failure = failure ?? PostgresError(kind: .client, message: "statement started a COPY; use copyFrom")
                _ = PQputCopyEnd(handle, "COPY is not expected here")
            case PGRES_COPY_OUT, PGRES_COPY_BOTH:
                failure = failure ?? PostgresError(kind: .client, message: "statement started a COPY; use copyFrom")
                needsReset = true
                return rows  // the session is mid-COPY: it is dropped before the next statement
            default:
                failure = failure ?? serverError(result)
            }
        }
        if let failure { throw failure }
        return rows
    }

    /// The next result of the statement in progress, or nil once it is over.
    /// Waits on the socket, never in libpq, so the wait ends at `deadline`:
    /// then the statement is given up (see `abandon`).
    func nextResult(until deadline: ContinuousClock.Instant?) throws -> OpaquePointer? {
        while PQisBusy(handle) == 1 {
            guard waitForInput(until: deadline) else {
                abandon()
                let limit = configuration.timeout.map { " within \($0.seconds)s" } ?? ""
                throw PostgresError(kind: .timeout, sqlState: "57014", message: "no answer from PostgreSQL\(limit); statement cancelled")
            }
            guard PQconsumeInput(handle) == 1 else { throw connectionError() }
        }
        return PQgetResult(handle)
    }

    /// Waits until the socket has something to read; false if `deadline` (or a
    /// cutoff set meanwhile, at shutdown) came first. Slices of at most 200 ms
    /// let a cutoff set during the wait take effect.
    func waitForInput(until deadline: ContinuousClock.Instant?) -> Bool {
        while true {
            var end = deadline
            if let cutoff = configuration.cutoff?.deadline { end = end.map { min($0, cutoff) } ?? cutoff }
            let slice: Duration
            if let end {
                let remaining = ContinuousClock.now.duration(to: end)
                guard remaining > .zero else { return false }
                slice = min(remaining, .milliseconds(200))
            } else {
                slice = .milliseconds(200)
            }
            if socketIsReadable(timeoutMilliseconds: Int32(slice.seconds * 1000) + 1) { return true }
            guard PQstatus(handle) == CONNECTION_OK else { return true }  // let libpq report it
        }
    }

    /// Gives up on the statement in progress: asks the server to cancel it and
    /// marks the session for re-establishing before the next statement. The
    /// cancel request opens a connection of its own and, on a hung server, can
    /// block for as long as the hang lasts, so it runs on a thread nobody waits for.
    func abandon() {
        needsReset = true
        guard let cancel = PQgetCancel(handle) else { return }
        let request = CancelRequest(cancel: cancel)
        Thread.detachNewThread { request.send() }
    }
}

/// A `PGcancel`: libpq's own object for cancelling from another thread,
/// independent of the connection it was taken from.
private struct CancelRequest: @unchecked Sendable {
    let cancel: OpaquePointer

    func send() {
        var errorBuffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(cancel, &errorBuffer, Int32(errorBuffer.count))
        PQfreeCancel(cancel)
    }
}
