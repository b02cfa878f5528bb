import Foundation

/// Turns any HTTP response into one `APICallResult`, following docs/DESIGN.md,
/// Answer table. Total: every byte sequence gets a class, nothing throws or traps.
public enum ResponseClassifier {

    public static func classify(status: Int, requestIDHeader: String?, body: [UInt8]) -> APICallResult {
        // The usual success answer, recognised without a JSON parser (the hot path).
        if status == 200, body == DingTalkAPI.successBody {
            return APICallResult(outcomeClass: .success, httpStatus: status, requestID: requestIDHeader)
        }
        guard let envelope = try? JSONDecoder().decode(ResponseEnvelope.self, from: Data(body)) else {
            // DingTalk's ban answer is not JSON; nor is a proxy's error page. Both mean: stop for a while.
            return APICallResult(outcomeClass: .banned, httpStatus: status, code: LocalErrorCode.nonJSONBody,
                                 message: snippet(body), requestID: requestIDHeader)
        }
        let requestID = envelope.requestID ?? requestIDHeader
        if envelope.punish == "deny" {
            return APICallResult(outcomeClass: .banned, httpStatus: status, code: envelope.code ?? LocalErrorCode.punished,
                                 message: envelope.message, requestID: requestID)
        }
        if let code = envelope.code, !code.isEmpty {
            return APICallResult(outcomeClass: DingTalkErrorCode.outcomeClass(code: code, httpStatus: status),
                                 httpStatus: status, code: code, message: envelope.message, requestID: requestID)
        }
        if status == 200 {
            if envelope.result == true {
                return APICallResult(outcomeClass: .success, httpStatus: status, requestID: requestID)
            }
            return APICallResult(outcomeClass: .transient, httpStatus: status, code: LocalErrorCode.unexpectedResponse,
                                 message: snippet(body), requestID: requestID)
        }
        return APICallResult(outcomeClass: DingTalkErrorCode.outcomeClass(httpStatus: status), httpStatus: status, code: LocalErrorCode.httpStatus(status),
                             message: envelope.message ?? snippet(body), requestID: requestID)
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
