import DingTalk
import Foundation

/// An answer as decided under the fake's lock (codes counted, request id drawn),
/// turned into bytes by `reply` after the lock is released.
enum FakeAnswer: Sendable {
    /// `{"result": true}`: the grant was applied.
    case success(requestID: String, delay: Duration)
    /// DingTalk's error shape.
    case error(status: Int, code: String, message: String, requestID: String, delay: Duration)
    /// Any other JSON document (tokens, the admin endpoints).
    case json(status: Int, body: String, requestID: String)
    /// An answer in somebody else's shape: a gateway's page, a plain-text 429,
    /// DingTalk's ban document (`FakePage`).
    case page(FakePage, requestID: String, delay: Duration)
    case reset
    case hang

    /// The status sent, or nil when the connection was reset or left hanging.
    var status: Int? {
        switch self {
        case .success: 200
        case .error(let status, _, _, _, _), .json(let status, _, _): status
        case .page(let page, _, _): page.status
        case .reset, .hang: nil
        }
    }

    /// The `x-acs-request-id` sent, if anything was.
    var requestID: String? {
        switch self {
        case .success(let id, _), .error(_, _, _, let id, _), .json(_, _, let id), .page(_, let id, _): id
        case .reset, .hang: nil
        }
    }

    /// How a grant call counts in its app's stats: applied, or the code it was answered.
    var appCode: String? {
        switch self {
        case .success: nil
        case .error(_, let code, _, _, _): code
        case .json(let status, _, _): "http.\(status)"
        case .page(let page, _, _): page.appCode
        case .reset: "reset"
        case .hang: "timeout"
        }
    }

    var reply: FakeReply {
        switch self {
        case .success(let requestID, let delay):
            .respond(status: 200, headers: Self.jsonHeaders(requestID), body: DingTalkAPI.successBody, delay: delay)
        case .error(let status, let code, let message, let requestID, let delay):
            .respond(status: status, headers: Self.jsonHeaders(requestID),
                     body: Self.errorBody(code: code, message: message, requestID: requestID), delay: delay)
        case .json(let status, let body, let requestID):
            .respond(status: status, headers: Self.jsonHeaders(requestID), body: Array(body.utf8), delay: .zero)
        case .page(let page, let requestID, let delay):
            .respond(status: page.status, headers: [("Content-Type", page.contentType), (DingTalkAPI.requestIDHeader, requestID)],
                     body: Array(page.body.utf8), delay: delay)
        case .reset: .reset
        case .hang: .hang
        }
    }

    private static func jsonHeaders(_ requestID: String) -> [(String, String)] {
        [("Content-Type", "application/json;charset=utf-8"), (DingTalkAPI.requestIDHeader, requestID)]
    }

    /// `{"code","message","requestid"}` (lowercase `requestid`), the same id as the header.
    private static func errorBody(code: String, message: String, requestID: String) -> [UInt8] {
        let body: [String: String] = ["code": code, "message": message, DingTalkErrorCode.requestIDKey: requestID]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(body)) ?? Data())
    }
}
