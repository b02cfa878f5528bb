import Foundation

/// How DingTalk answers an IP that went over its per-IP limit (10,000 calls in
/// 20 s, then 5 minutes refused). Not its error shape: the call never reaches
/// the API, the gateway's anti-abuse layer ("x5") answers with its punish
/// document, `{"status":1111,"wait":5,"source":"x5","punish":"deny","uuid":"…"}`.
/// DingTalk's documentation says a page comes back, with that document as the
/// example, so it is recognised both as the JSON body and inside markup.
///
/// `"punish":"deny"` is the signature: specific enough that no gateway or proxy
/// says it by chance, so only a real ban pauses the host. The classifier and the
/// fake both use this type, as they share the error table.
public enum BanSignature {
    /// The document, as the fake sends it; `uuid` stands for the gateway's trace id.
    public static func document(uuid: String) -> String {
        #"{"status":1111,"wait":5,"source":"x5","punish":"deny","uuid":"\#(uuid)"}"#
    }

    /// The same document wrapped in a page, the other form the ban may take.
    public static func page(uuid: String) -> String {
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body><script>var punish = \(document(uuid: uuid));</script></body></html>"
    }

    /// How far into a body that is not JSON the signature is looked for: a page
    /// is small, and a large body is not worth scanning whole.
    static let searchedPrefix = 16 * 1024

    /// Whether an answer is DingTalk's ban: a JSON object whose `punish` is `deny`,
    /// or a body that is not JSON and carries `"punish":"deny"` (spaces allowed).
    static func matches(body: [UInt8], punish: String?, isJSON: Bool) -> Bool {
        if isJSON { return punish == "deny" }
        let text = String(decoding: body.prefix(searchedPrefix), as: UTF8.self)
        return text.contains(#/"punish"\s*:\s*"deny"/#)
    }
}
