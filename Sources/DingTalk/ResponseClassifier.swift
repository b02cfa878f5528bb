import Foundation

/// Turns any HTTP response into one `APICallResult`, following docs/DESIGN.md,
/// Answer table. Total: every byte sequence gets a class, nothing throws or traps.
///
/// Status before body: gateways, proxies and load balancers between the worker
/// and DingTalk answer in their own way (an nginx page, a plain-text 429), and
/// none of that may pause the host or fail a job for good. The rules, in order:
/// DingTalk's ban signature; 429; a known DingTalk code; 5xx and 408; a body
/// that is not JSON; then what is left of DingTalk's JSON by its status.
public enum ResponseClassifier {

    public static func classify(status: Int, requestIDHeader: String?, body: [UInt8]) -> APICallResult {
        // The usual success answer, recognised without a JSON parser (the hot path).
        if status == 200, body == DingTalkAPI.successBody {
            return APICallResult(outcomeClass: .success, httpStatus: status, requestID: requestIDHeader)
        }
        let envelope = try? JSONDecoder().decode(ResponseEnvelope.self, from: Data(body))
        let requestID = envelope?.requestID ?? requestIDHeader
        let code = envelope?.code.flatMap { $0.isEmpty ? nil : $0 }
        // What an answer without DingTalk's fields says: its status, and its first bytes.
        let message = envelope?.message ?? snippet(body)
        func result(_ outcomeClass: APIOutcomeClass, _ code: String) -> APICallResult {
            APICallResult(outcomeClass: outcomeClass, httpStatus: status, code: code, message: message, requestID: requestID)
        }

        // Only DingTalk's own ban answer stops every call from this host; its status is not documented.
        if BanSignature.matches(body: body, punish: envelope?.punish, isJSON: envelope != nil) {
            return result(.banned, code ?? LocalErrorCode.punished)
        }
        // Someone on the way is counting calls: slow down, whatever the body says.
        if status == 429 {
            return result(.throttled, code ?? LocalErrorCode.httpStatus(status))
        }
        if let code, let known = DingTalkErrorCode.byCode[code] {
            return result(known.outcomeClass, code)
        }
        // A server (DingTalk's or one on the way) failed or gave up waiting: worth retrying.
        if status >= 500 || status == 408 {
            return result(.transient, code ?? LocalErrorCode.httpStatus(status))
        }
        guard let envelope else {
            return result(.transient, LocalErrorCode.nonJSONBody)
        }
        if status == 200 {
            if code == nil, envelope.result == true {
                return APICallResult(outcomeClass: .success, httpStatus: status, requestID: requestID)
            }
            return result(.transient, code ?? LocalErrorCode.unexpectedResponse)
        }
        if let code {
            // DingTalk's error shape with a code it did not document: a 4xx would fail the same way again.
            return result(DingTalkErrorCode.outcomeClass(httpStatus: status), code)
        }
        // JSON without a code is not DingTalk's error shape: nothing says the job is at fault.
        return result(.transient, LocalErrorCode.httpStatus(status))
    }

    /// The start of a body, for the error message column.
    static func snippet(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(200), as: UTF8.self)
        return text.isEmpty ? "(empty body)" : text
    }
}

/// The fields of a DingTalk answer that matter, read leniently: a field of the
/// wrong type counts as absent (`"result": "true"` is not success). Decoding
/// fails only when the body is not a JSON object.
struct ResponseEnvelope: Decodable {
    var result: Bool?
    var code: String?
    var message: String?
    var requestID: String?
    var punish: String?

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        func string(_ name: String) -> String? { try? container.decodeIfPresent(String.self, forKey: Key(stringValue: name)) }
        result = try? container.decodeIfPresent(Bool.self, forKey: Key(stringValue: "result"))
        code = string("code")
        message = string("message")
        requestID = string(DingTalkErrorCode.requestIDKey) ?? string("requestId")
        punish = string("punish")
    }
}
