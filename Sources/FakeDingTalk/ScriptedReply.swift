import DingTalk

/// An answer queued by `PUT /__fake/script` for the next grant call with a
/// valid token, ahead of every other rule: lets a test meet each error on demand.
struct ScriptedReply: Codable {
    /// An error code; its status and message come from `DingTalkErrorCode.all`
    /// unless given (a code not in the table needs `status`).
    var code: String?
    var status: Int?
    var message: String?
    /// `html` (the non-JSON 502 page) or `reset`, instead of `code`.
    var fault: String?
    /// Used in the `requestid` field and the `x-acs-request-id` header.
    var requestId: String?
    /// How many calls get this answer (default 1).
    var times: Int?

    /// Whether the fake can give this answer.
    var isValid: Bool {
        let known = code.flatMap { DingTalkErrorCode.byCode[$0] }
        let answerable = switch (code, fault) {
        case (let code?, nil): !code.isEmpty && (known != nil || status != nil)
        case (nil, let fault?): fault == "html" || fault == "reset"
        default: false
        }
        return answerable && (times ?? 1) >= 1 && (status.map { (100...599).contains($0) } ?? true)
    }
}

extension FakeDingTalkState.Inner {
    mutating func answer(_ scripted: ScriptedReply, delay: Duration) -> FakeAnswer {
        let requestID = scripted.requestId ?? newRequestID()
        if let fault = scripted.fault.flatMap(FaultDice.Fault.init(rawValue:)) {
            return answer(for: fault, requestID: requestID, delay: delay)
        }
        let code = scripted.code ?? ""
        let known = DingTalkErrorCode.byCode[code]
        return error(status: scripted.status ?? known?.httpStatus ?? 400, code: code,
                     message: scripted.message ?? known?.message ?? code, requestID: requestID, delay: delay)
    }
}
