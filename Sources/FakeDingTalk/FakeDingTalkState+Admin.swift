import DingTalk
import Foundation

/// The `/__fake/…` endpoints: what tests, benchmarks and the conformance checks
/// read and script. Their data is copied under the lock and encoded outside it.
extension FakeDingTalkState {
    func adminAnswer(method: String, path: String, request: FakeRequest) -> FakeAnswer? {
        switch (method, path) {
        case ("GET", "/__fake/stats"):
            let (snapshot, id) = inner.withLock { state -> (Stats, String) in (self.stats(of: state), state.newRequestID()) }
            return .json(status: 200, body: Self.encode(snapshot, [.sortedKeys]), requestID: id)
        case ("GET", "/__fake/applied"):
            let (grants, id) = inner.withLock { state -> ([VisibilityGrant], String) in (state.applied, state.newRequestID()) }
            return .json(status: 200, body: Self.encode(grants, []), requestID: id)
        case ("GET", "/__fake/requests"):
            let (recorded, id) = inner.withLock { state -> ([RecordedRequest], String) in (state.requests, state.newRequestID()) }
            return .json(status: 200, body: Self.encode(recorded, [.sortedKeys, .withoutEscapingSlashes]), requestID: id)
        case ("GET", "/__fake/timeline"):
            let (timeline, id) = inner.withLock { state -> (Timeline, String) in (Timeline(state), state.newRequestID()) }
            return .json(status: 200, body: Self.encode(timeline, []), requestID: id)
        case ("GET", "/__fake/error-codes"):
            let rows = DingTalkErrorCode.all.map {
                ErrorCodeRow(code: $0.code, httpStatus: $0.httpStatus, message: $0.message, outcomeClass: $0.outcomeClass.rawValue)
            }
            return inner.withLock { $0.json(200, Self.encode(rows, [.sortedKeys, .withoutEscapingSlashes])) }
        case ("PUT", "/__fake/script"):
            return script(body: request.body)
        default:
            return nil
        }
    }

    /// `PUT /__fake/script` with a JSON array of `ScriptedReply`: replaces both queues,
    /// the grant calls' and the token requests' (`[]` empties them). Refuses entries
    /// it could not answer, naming the first.
    private func script(body: [UInt8]) -> FakeAnswer {
        guard let entries = try? JSONDecoder().decode([ScriptedReply].self, from: Data(body)) else {
            return inner.withLock {
                $0.error(status: 400, code: "invalid.param",
                         message: "expected a JSON array of {code|fault, status, message, requestId, times, endpoint}")
            }
        }
        if let index = entries.firstIndex(where: { !$0.isValid }) {
            return inner.withLock {
                $0.error(status: 400, code: "invalid.param",
                         message: "entry \(index): give a code from the table (or a code and a status), or fault html/text/empty/ban/reset; times >= 1")
            }
        }
        let queue = entries.flatMap { Array(repeating: $0, count: $0.times ?? 1) }
        return inner.withLock { state in
            state.scripted = queue.filter { $0.endpoint != .token }
            state.scriptedTokens = queue.filter { $0.endpoint == .token }
            return state.json(200, #"{"scripted":\#(queue.count)}"#)
        }
    }

    /// `PUT /__fake/script` for a test in the same process; false when the script was refused.
    @discardableResult
    public func script(json: String) -> Bool {
        if case .json(200, _, _) = script(body: Array(json.utf8)) { return true }
        return false
    }

    /// With `recordTimeline`: when each grant call arrived (Unix seconds), and
    /// when each applied grant was applied, with its `optUserId`, for benchmarks.
    private struct Timeline: Encodable {
        let calls: [Double]
        let applied: [Applied]

        struct Applied: Encodable {
            let optUserId: String
            let at: Double
        }

        init(_ state: Inner) {
            calls = state.callTimes
            applied = zip(state.applied, state.appliedTimes).map { Applied(optUserId: $0.0.optUserId, at: $0.1) }
        }
    }

    /// A row of the error table the fake answers from, for conformance checks that must cover every row.
    private struct ErrorCodeRow: Encodable {
        let code: String
        let httpStatus: Int
        let message: String
        let outcomeClass: String
    }

    private static func encode(_ value: some Encodable, _ formatting: JSONEncoder.OutputFormatting) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = formatting
        return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
    }
}
