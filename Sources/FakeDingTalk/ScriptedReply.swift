import DingTalk

/// An answer queued by `PUT /__fake/script` for the next grant call with a
/// valid token (or the next token request), ahead of every other rule: lets a
/// test meet each error on demand.
struct ScriptedReply: Codable {
    /// Which requests it answers.
    enum Endpoint: String, Codable {
        case grant, token
    }

    /// An error code; its status and message come from `DingTalkErrorCode.all`
    /// unless given (a code not in the table needs `status`).
    var code: String?
    var status: Int?
    var message: String?
    /// Instead of `code`: `reset`, or an answer in somebody else's shape
    /// (`FakePage.Kind`): `html` (nginx's page, 502), `text` (plain text, 429),
    /// `empty` (no body, 503), `ban` (DingTalk's punish page, 200); `status`
    /// changes the status of any of them.
    var fault: String?
    /// Used in the `requestid` field and the `x-acs-request-id` header.
    var requestId: String?
    /// How many calls get this answer (default 1).
    var times: Int?
    /// `grant` (default) or `token`: the token endpoint's answers are scripted apart.
    var endpoint: Endpoint?

    /// Whether the fake can give this answer.
    var isValid: Bool {
        let known = code.flatMap { DingTalkErrorCode.byCode[$0] }
        let answerable = switch (code, fault) {
        case (let code?, nil): !code.isEmpty && (known != nil || status != nil)
        case (nil, let fault?): fault == "reset" || FakePage.Kind(rawValue: fault) != nil
        default: false
        }
        return answerable && (times ?? 1) >= 1 && (status.map { (100...599).contains($0) } ?? true)
    }
}

extension FakeDingTalkState.Inner {
    mutating func answer(_ scripted: ScriptedReply, delay: Duration) -> FakeAnswer {
        let requestID = scripted.requestId ?? newRequestID()
        if let kind = scripted.fault.flatMap(FakePage.Kind.init(rawValue:)) {
            return page(kind, status: scripted.status, requestID: requestID, delay: delay)
        }
        if scripted.fault == "reset" {
            return answer(for: .reset, requestID: requestID, delay: delay)
        }
        let code = scripted.code ?? ""
        let known = DingTalkErrorCode.byCode[code]
        return error(status: scripted.status ?? known?.httpStatus ?? 400, code: code,
                     message: scripted.message ?? known?.message ?? code, requestID: requestID, delay: delay)
    }
}
