import Foundation
import GrantQueue
import Postgres
import QueueHotPath
import XCTest

final class CompleteTests: DatabaseTestCase {
    private var queue: GrantQueue!

    override func setUpWithError() throws {
        try super.setUpWithError()
        queue = GrantQueue(connection: connection)
    }

    private func row(_ id: Int64) throws -> PostgresRow {
        try XCTUnwrap(connection.query("""
            SELECT state, attempts, locked_by, last_http_status, last_error_code, last_error_message, last_request_id,
                   finished_at IS NOT NULL, run_at > now()
            FROM visibility_grant_jobs WHERE id = $1
            """, [id]).first)
    }

    private func attemptRows(_ id: Int64) throws -> [String] {
        try connection.query("SELECT attempt || ':' || outcome || ':' || coalesce(error_code, '-') FROM visibility_grant_attempts WHERE job_id = $1 ORDER BY id", [id])
            .map { try $0.decode(0, as: String.self) }
    }

    func testOneBatchRecordsSuccessTerminalFailureRetryAndRelease() throws {
        try insertJobs(4)
        let jobs = try queue.claim(workerID: "w1", limit: 4, lease: .seconds(30))
        let now = Date()
        let written = try queue.complete([
            GrantJobOutcome(jobID: jobs[0].id, attempt: 1, disposition: .succeeded, startedAt: now, httpStatus: 200, requestID: "req-ok"),
            GrantJobOutcome(jobID: jobs[1].id, attempt: 1, disposition: .failed, startedAt: now, httpStatus: 400,
                            errorCode: "invalid.param", errorMessage: "bad corp", requestID: "req-bad"),
            GrantJobOutcome(jobID: jobs[2].id, attempt: 1, disposition: .retry(at: now.addingTimeInterval(60)), startedAt: now,
                            httpStatus: 500, errorCode: "system.busy", errorMessage: "busy", requestID: "req-busy"),
            GrantJobOutcome(jobID: jobs[3].id, attempt: 1, disposition: .released(at: now), startedAt: now, reachedAPI: false),
        ], workerID: "w1")
        XCTAssertEqual(Set(written.map(\.state)), ["succeeded", "failed", "pending"])
        XCTAssertEqual(written.count, 4)

        let succeeded = try row(jobs[0].id)
        XCTAssertEqual(try succeeded.decode(0, as: String.self), "succeeded")
        XCTAssertEqual(try succeeded.decode(2, as: String?.self), nil)
        XCTAssertEqual(try succeeded.decode(3, as: Int?.self), 200)
        XCTAssertEqual(try succeeded.decode(4, as: String?.self), nil)
        XCTAssertEqual(try succeeded.decode(6, as: String?.self), "req-ok")
        XCTAssertEqual(try succeeded.decode(7, as: Bool.self), true)

        let failed = try row(jobs[1].id)
        XCTAssertEqual(try failed.decode(0, as: String.self), "failed")
        XCTAssertEqual(try failed.decode(4, as: String?.self), "invalid.param")
        XCTAssertEqual(try failed.decode(5, as: String?.self), "bad corp")
        XCTAssertEqual(try failed.decode(6, as: String?.self), "req-bad")

        let retried = try row(jobs[2].id)
        XCTAssertEqual(try retried.decode(0, as: String.self), "pending")
        XCTAssertEqual(try retried.decode(1, as: Int.self), 1, "a retry keeps the attempt it used")
        XCTAssertEqual(try retried.decode(4, as: String?.self), "system.busy")
        XCTAssertEqual(try retried.decode(7, as: Bool.self), false)
        XCTAssertEqual(try retried.decode(8, as: Bool.self), true, "backoff pushes run_at out")

        let released = try row(jobs[3].id)
        XCTAssertEqual(try released.decode(0, as: String.self), "pending")
        XCTAssertEqual(try released.decode(1, as: Int.self), 0, "a release gives the attempt back")
        XCTAssertEqual(try released.decode(4, as: String?.self), nil)

        XCTAssertEqual(try attemptRows(jobs[0].id), ["1:succeeded:-"])
        XCTAssertEqual(try attemptRows(jobs[1].id), ["1:failed:invalid.param"])
        XCTAssertEqual(try attemptRows(jobs[2].id), ["1:retry:system.busy"])
        XCTAssertEqual(try attemptRows(jobs[3].id), [], "nothing reached the API, so no attempt row")
    }

    func testRetriesStopAtMaxAttempts() throws {
        try connection.query("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, max_attempts) VALUES ('{d}', 'u', 2)")
        for attempt in Int32(1)...2 {
            let job = try XCTUnwrap(queue.claim(workerID: "w", limit: 1, lease: .seconds(30)).first)
            XCTAssertEqual(job.attempt, attempt)
            try queue.complete([GrantJobOutcome(jobID: job.id, attempt: job.attempt, disposition: .retry(at: Date(timeIntervalSinceNow: -1)),
                                                startedAt: Date(), httpStatus: 500, errorCode: "system.busy")], workerID: "w")
        }
        XCTAssertEqual(try row(1).decode(0, as: String.self), "failed")
        XCTAssertEqual(try row(1).decode(7, as: Bool.self), true)
        XCTAssertEqual(try attemptRows(1), ["1:retry:system.busy", "2:failed:system.busy"])
        XCTAssertEqual(try queue.claim(workerID: "w", limit: 1, lease: .seconds(30)), [])
    }

    func testStaleAttemptOrOtherWorkerChangesNothing() throws {
        try insertJobs(1)
        let first = try XCTUnwrap(queue.claim(workerID: "w1", limit: 1, lease: .seconds(30)).first)
        // The lease was taken over: the job went back to pending and w2 claimed it as attempt 2.
        try connection.query("UPDATE visibility_grant_jobs SET state = 'pending', locked_by = NULL, locked_until = NULL")
        let second = try XCTUnwrap(queue.claim(workerID: "w2", limit: 1, lease: .seconds(30)).first)
        XCTAssertEqual(second.attempt, 2)

        let before = try connection.query("SELECT to_jsonb(j)::text FROM visibility_grant_jobs j").first?.decode(0, as: String.self)
        // w1 comes back late with its old attempt.
        XCTAssertEqual(try queue.complete([GrantJobOutcome(jobID: first.id, attempt: first.attempt, disposition: .succeeded,
                                                           startedAt: Date(), httpStatus: 200)], workerID: "w1"), [])
        // w1 guesses the right attempt number, but the lease is w2's.
        XCTAssertEqual(try queue.complete([GrantJobOutcome(jobID: first.id, attempt: 2, disposition: .failed,
                                                           startedAt: Date(), httpStatus: 400, errorCode: "x")], workerID: "w1"), [])
        // w2 with a stale attempt number.
        XCTAssertEqual(try queue.complete([GrantJobOutcome(jobID: first.id, attempt: 1, disposition: .failed,
                                                           startedAt: Date(), httpStatus: 400, errorCode: "x")], workerID: "w2"), [])
        let after = try connection.query("SELECT to_jsonb(j)::text FROM visibility_grant_jobs j").first?.decode(0, as: String.self)
        XCTAssertEqual(before, after)
        XCTAssertEqual(try attemptRows(first.id), [], "a fenced-off completion must not write an audit row")

        // The lease holder's own completion goes through.
        XCTAssertEqual(try queue.complete([GrantJobOutcome(jobID: second.id, attempt: 2, disposition: .succeeded,
                                                           startedAt: Date(), httpStatus: 200)], workerID: "w2").map(\.state), ["succeeded"])
        // Completing twice changes nothing the second time.
        XCTAssertEqual(try queue.complete([GrantJobOutcome(jobID: second.id, attempt: 2, disposition: .failed,
                                                           startedAt: Date(), httpStatus: 400)], workerID: "w2"), [])
        XCTAssertEqual(try row(second.id).decode(0, as: String.self), "succeeded")
    }
}
