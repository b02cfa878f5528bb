import DingTalk
import Foundation

/// What the real API refuses of a grant call's body, judged before the fake's lock
/// is taken (it depends on the body alone).
enum GrantBodyCheck {
    /// The grant, or the code and message it is refused with.
    static func check(_ body: [UInt8]) -> Result<VisibilityGrant, Refusal> {
        guard let grant = try? JSONDecoder().decode(VisibilityGrant.self, from: Data(body)) else {
            return .failure(Refusal(code: .invalidParameter, message: "请求体不是合法的JSON或缺少参数"))
        }
        if let refusal = problem(with: grant) { return .failure(refusal) }
        return .success(grant)
    }

    struct Refusal: Error {
        let code: DingTalkErrorCode
        let message: String
    }

    /// What the real API refuses of a well-formed body. Corp ids start with
    /// `ding`; user ids starting with `nonexistent` stand for people who left.
    static func problem(with grant: VisibilityGrant) -> Refusal? {
        if grant.toCorpIds.isEmpty || grant.toCorpIds.count > 100 {
            return Refusal(code: .invalidParameter, message: "toCorpIds 数量必须在1到100之间")
        }
        if let bad = grant.toCorpIds.first(where: { !$0.hasPrefix("ding") || $0.count < 5 }) {
            return Refusal(code: .invalidParameter, message: "toCorpIds 包含无效的corpId: \(bad)")
        }
        if grant.optUserId.trimmingCharacters(in: .whitespaces).isEmpty {
            return Refusal(code: .invalidParameter, message: "optUserId 不能为空")
        }
        if grant.optUserId.hasPrefix("nonexistent") {
            return Refusal(code: .employeeNotExist, message: DingTalkErrorCode.employeeNotExist.message)
        }
        if grant.fields.contains(where: { $0 != "mobile" && $0 != "status" }) {
            return Refusal(code: .invalidParameter, message: "fields 只能是 mobile 或 status")
        }
        return nil
    }
}
