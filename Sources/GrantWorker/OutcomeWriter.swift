import GrantQueue
import Logging
import Postgres
import QueueHotPath

/// Where outcomes are written: the queue's fenced completion, or an in-memory
/// double in the engine's unit tests.
protocol OutcomeStore {
    /// Writes the outcomes in one statement; returns the rows it changed (an
    /// outcome missing from them was fenced off).
    func complete(_ outcomes: [GrantJobOutcome], workerID: String) throws -> [CompletedGrantJob]
}

extension GrantQueue: OutcomeStore {}

/// The completer's rules for one batch, apart from its thread and its timing:
/// a batch goes out in one statement; a transient refusal keeps every outcome
/// not yet written, in order, for the next try; a batch refused for what it
/// holds is split in halves down to the outcome that fails alone, which is
/// written again without the API's texts or, refused even so, given up.
struct OutcomeWriter {
    /// What became of a batch that did not throw.
    struct Result: Equatable {
        /// Outcomes acknowledged by the database (written, or given up for good).
        var settled = 0
        /// Whether some job left `running` for good (a successor may be claimable).
        var finishedJobs = false
        /// Jobs whose outcome was refused with its texts and written without them.
        var writtenPlain: [Int64] = []
        /// Jobs whose outcome the database refuses in any form.
        var givenUp: [Int64] = []
    }

    /// A transient failure, with the outcomes of the batch still unwritten (to go
    /// back at the front of the queue, in their order).
    struct Interrupted: Error {
        var error: any Error
        var unwritten: [GrantJobOutcome]
        var partial: Result
    }

    let workerID: String
    let logger: Logger

    /// Writes `batch`; throws `Interrupted` on a transient failure.
    func write(_ batch: [GrantJobOutcome], to store: some OutcomeStore) throws(Interrupted) -> Result {
        var result = Result()
        try write(batch[...], to: store, into: &result, splitting: false)
        return result
    }

    private func write(_ batch: ArraySlice<GrantJobOutcome>, to store: some OutcomeStore, into result: inout Result,
                       splitting: Bool) throws(Interrupted) {
        guard !batch.isEmpty else { return }
        do {
            let written = try store.complete(Array(batch), workerID: workerID)
            result.settled += batch.count
            if written.contains(where: { $0.state != "pending" }) { result.finishedJobs = true }
        } catch let error as PostgresError where !error.isTransient {
            guard batch.count > 1 else {
                try writeAlone(batch[batch.startIndex], refused: error, to: store, into: &result)
                return
            }
            if !splitting {
                logger.warning("the database refused a batch of outcomes; finding the one it refuses",
                               metadata: ["outcomes": "\(batch.count)", "error": "\(error)"])
            }
            let middle = batch.startIndex + batch.count / 2
            do throws(Interrupted) {
                try write(batch[..<middle], to: store, into: &result, splitting: true)
            } catch {
                // The second half is unwritten too, after what the first left.
                throw Interrupted(error: error.error, unwritten: error.unwritten + batch[middle...], partial: result)
            }
            try write(batch[middle...], to: store, into: &result, splitting: true)
        } catch {
            throw Interrupted(error: error, unwritten: Array(batch), partial: result)
        }
    }

    private func writeAlone(_ outcome: GrantJobOutcome, refused error: PostgresError, to store: some OutcomeStore,
                            into result: inout Result) throws(Interrupted) {
        let plain = GrantJobOutcome(jobID: outcome.jobID, attempt: outcome.attempt, disposition: outcome.disposition,
                                    startedAt: outcome.startedAt, reachedAPI: outcome.reachedAPI, httpStatus: outcome.httpStatus)
        do {
            let written = try store.complete([plain], workerID: workerID)
            if written.contains(where: { $0.state != "pending" }) { result.finishedJobs = true }
            result.writtenPlain.append(outcome.jobID)
            logger.error("the database refused this outcome with the API's texts; written without them",
                         metadata: ["job_id": "\(outcome.jobID)", "error": "\(error)"])
        } catch let again as PostgresError where !again.isTransient {
            result.givenUp.append(outcome.jobID)
            logger.error("the database refuses this job's outcome; it runs again when its lease expires",
                         metadata: ["job_id": "\(outcome.jobID)", "error": "\(again)"])
        } catch {
            throw Interrupted(error: error, unwritten: [outcome], partial: result)
        }
        result.settled += 1
    }
}
