import Foundation
import Logging
import Postgres
@testable import QueueHotPath
import XCTest
@testable import GrantWorker

/// The completer's rules for a batch (docs/DESIGN.md, A job's path, "Database
/// trouble"), driven through an in-memory store: no database, no clock.
final class OutcomeWriterTests: XCTestCase {
    /// Records each statement; refuses what `refuse` says, in the way it says.
    final class Store: OutcomeStore {
        var statements: [[GrantJobOutcome]] = []
        var refuse: ([GrantJobOutcome]) -> PostgresError? = { _ in nil }

        func complete(_ outcomes: [GrantJobOutcome], workerID: String) throws -> [CompletedGrantJob] {
            statements.append(outcomes)
            if let error = refuse(outcomes) { throw error }
            return outcomes.map { CompletedGrantJob(id: $0.jobID, state: $0.disposition == .succeeded ? "succeeded" : "pending") }
        }
    }

    static let checkViolation = PostgresError(kind: .server, sqlState: "23514", message: "violates check constraint")
    static let deadlock = PostgresError(kind: .server, sqlState: "40P01", message: "deadlock detected")
    let writer = OutcomeWriter(workerID: "w1", logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))

    func outcomes(_ ids: ClosedRange<Int64>, code: String? = nil) -> [GrantJobOutcome] {
        ids.map { GrantJobOutcome(jobID: $0, attempt: 1, disposition: .succeeded, startedAt: Date(timeIntervalSince1970: 0),
                                  httpStatus: 200, errorCode: code, requestID: "r\($0)") }
    }

    func testABatchGoesOutInOneStatement() throws {
        let store = Store()
        let result = try writer.write(outcomes(1...200), to: store)
        XCTAssertEqual(store.statements.count, 1)
        XCTAssertEqual(result, OutcomeWriter.Result(settled: 200, finishedJobs: true))
    }

    func testATransientRefusalKeepsEveryOutcomeInOrder() {
        let store = Store()
        store.refuse = { _ in Self.deadlock }
        let batch = outcomes(1...10)
        XCTAssertThrowsError(try writer.write(batch, to: store)) { error in
            guard let interrupted = error as? OutcomeWriter.Interrupted else { return XCTFail("\(error)") }
            XCTAssertEqual(interrupted.unwritten, batch)
            XCTAssertEqual(interrupted.partial.settled, 0)
            XCTAssertEqual((interrupted.error as? PostgresError)?.sqlState, "40P01")
        }
        XCTAssertEqual(store.statements.count, 1, "a transient error is not split: the whole batch waits for the next try")
    }

    /// One outcome of eight breaks a rule with its texts: the batch is halved until
    /// that one stands alone, which is written without them; the other seven are written.
    func testTheOutcomeARuleRefusesIsFoundAndWrittenPlain() throws {
        let store = Store()
        store.refuse = { batch in batch.contains { $0.jobID == 6 && $0.requestID != nil } ? Self.checkViolation : nil }
        let result = try writer.write(outcomes(1...8), to: store)
        XCTAssertEqual(result.settled, 8)
        XCTAssertEqual(result.writtenPlain, [6])
        XCTAssertEqual(result.givenUp, [])
        // 8 refused, 1-4 written, 5-8 refused, 5-6 refused, 5 written, 6 refused, 6 plain written, 7-8 written.
        XCTAssertEqual(store.statements.map { $0.map(\.jobID) }, [[1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4], [5, 6, 7, 8], [5, 6], [5], [6], [6], [7, 8]])
        let plain = try XCTUnwrap(store.statements[6].first)
        XCTAssertNil(plain.requestID)
        XCTAssertNil(plain.errorCode)
        XCTAssertEqual(plain.httpStatus, 200, "the status stays: it is what the API answered")
    }

    func testAnOutcomeRefusedInEveryFormIsGivenUpNotRetried() throws {
        let store = Store()
        store.refuse = { batch in batch.contains { $0.jobID == 3 } ? Self.checkViolation : nil }
        let result = try writer.write(outcomes(1...4), to: store)
        XCTAssertEqual(result.givenUp, [3])
        XCTAssertEqual(result.settled, 4, "given up counts as settled: it is never sent again")
        XCTAssertEqual(store.statements.filter { $0.contains { $0.jobID == 3 } }.count, 4,
                       "the batch, its half, the outcome alone and its plain form: then no more")
    }

    /// A transient error while a refused batch is being split keeps exactly what is
    /// still unwritten, in order: the written first half is not sent again.
    func testATransientErrorDuringTheSplitKeepsOnlyWhatIsUnwritten() {
        let store = Store()
        store.refuse = { batch in
            if batch.count == 8 { return Self.checkViolation }
            return batch.first?.jobID == 5 ? Self.deadlock : nil
        }
        XCTAssertThrowsError(try writer.write(outcomes(1...8), to: store)) { error in
            guard let interrupted = error as? OutcomeWriter.Interrupted else { return XCTFail("\(error)") }
            XCTAssertEqual(interrupted.unwritten.map(\.jobID), [5, 6, 7, 8])
            XCTAssertEqual(interrupted.partial.settled, 4)
            XCTAssertTrue(interrupted.partial.finishedJobs)
        }
    }

    func testAFencedOffBatchFinishesNothing() throws {
        let store = Store()
        let retries = outcomes(1...3).map { outcome -> GrantJobOutcome in
            var outcome = outcome
            outcome.disposition = .retry(at: Date(timeIntervalSince1970: 60))
            return outcome
        }
        let result = try writer.write(retries, to: store)
        XCTAssertEqual(result.settled, 3)
        XCTAssertFalse(result.finishedJobs, "jobs back to pending wake no producer")
    }
}
