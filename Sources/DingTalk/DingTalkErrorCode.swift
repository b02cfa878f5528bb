/// The error codes DingTalk answers with, and the class each falls in.
///
/// One table for the client's classifier and the fake server: both read it, so
/// the two cannot drift apart. docs/DESIGN.md, Answer table, is the source.
public struct DingTalkErrorCode: Sendable, Hashable {
    public let code: String
    /// The HTTP status DingTalk sends with it.
    public let httpStatus: Int
    public let outcomeClass: APIOutcomeClass
    /// A message like the one DingTalk sends.
    public let message: String

    public static let invalidAuthentication = DingTalkErrorCode(
        code: "InvalidAuthentication", httpStatus: 400, outcomeClass: .token, message: "不合法的access_token")
    public static let missingAccessToken = DingTalkErrorCode(
        code: "AuthenticationFailed.MissingParameter", httpStatus: 400, outcomeClass: .token,
        message: "缺少参数 x-acs-dingtalk-access-token")
    public static let invalidClientIdOrSecret = DingTalkErrorCode(
        code: "invalidClientIdOrSecret", httpStatus: 400, outcomeClass: .config, message: "无效的clientId或者clientSecret")
    public static let invalidParameter = DingTalkErrorCode(
        code: "invalid.param", httpStatus: 400, outcomeClass: .terminal, message: "参数错误")
    public static let employeeNotExist = DingTalkErrorCode(
        code: "employee.not.exist", httpStatus: 400, outcomeClass: .terminal, message: "员工不存在")
    public static let profileNotExist = DingTalkErrorCode(
        code: "profile.not.exist", httpStatus: 400, outcomeClass: .terminal, message: "档案不存在")
    public static let exclusiveAccountLimit = DingTalkErrorCode(
        code: "exclusive.account.limit", httpStatus: 400, outcomeClass: .terminal, message: "专属账号数量超过限制")
    public static let qpsLimitForAppKeyAndAPI = DingTalkErrorCode(
        code: "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", httpStatus: 403, outcomeClass: .throttled,
        message: "调用该接口触发应用级别的QPS限流")
    public static let qpsLimitForAPI = DingTalkErrorCode(
        code: "Forbidden.AccessDenied.QpsLimitForApi", httpStatus: 403, outcomeClass: .throttled,
        message: "调用该接口触发接口级别的QPS限流")
    public static let qpmLimitForAppKeyAndAPI = DingTalkErrorCode(
        code: "Forbidden.AccessDenied.QpmLimitForAppkeyAndApi", httpStatus: 403, outcomeClass: .throttled,
        message: "调用该接口触发应用级别的QPM限流")
    public static let accessTokenPermissionDenied = DingTalkErrorCode(
        code: "Forbidden.AccessDenied.AccessTokenPermissionDenied", httpStatus: 403, outcomeClass: .config,
        message: "没有调用该接口的权限")
    public static let ipNotInWhiteList = DingTalkErrorCode(
        code: "Forbidden.AccessDenied.IpNotInWhiteList", httpStatus: 403, outcomeClass: .config,
        message: "访问IP不在白名单之中")
    public static let apiCountLimitForOrg = DingTalkErrorCode(
        code: "Forbidden.AccessDenied.ApiCountLimitForOrg", httpStatus: 403, outcomeClass: .quota,
        message: "企业当月调用量已达上限")
    public static let systemBusy = DingTalkErrorCode(
        code: "system.busy", httpStatus: 500, outcomeClass: .transient, message: "系统繁忙")
    /// A path or method the API does not have.
    public static let notFound = DingTalkErrorCode(
        code: "InvalidAction.NotFound", httpStatus: 404, outcomeClass: .terminal,
        message: "Specified api is not found, please check your url and method.")

    /// The error body's request id key: lowercase, unlike DingTalk's other JSON keys.
    public static let requestIDKey = "requestid"

    public static let all: [DingTalkErrorCode] = [
        .invalidAuthentication, .missingAccessToken, .invalidClientIdOrSecret, .invalidParameter, .employeeNotExist,
        .profileNotExist, .exclusiveAccountLimit, .qpsLimitForAppKeyAndAPI, .qpsLimitForAPI, .qpmLimitForAppKeyAndAPI,
        .accessTokenPermissionDenied, .ipNotInWhiteList, .apiCountLimitForOrg, .systemBusy, .notFound,
    ]

    /// The codes of DingTalk's throttle answers (any 429 is one as well).
    public static let throttleCodes: [String] = all.filter { $0.outcomeClass == .throttled }.map(\.code)

    public static let byCode: [String: DingTalkErrorCode] = Dictionary(uniqueKeysWithValues: all.map { ($0.code, $0) })

    /// The class of DingTalk's error shape with a code not in the table (the
    /// classifier has already taken 429, 5xx and 408): a 4xx would fail the same
    /// way again, anything else is worth retrying.
    public static func outcomeClass(httpStatus: Int) -> APIOutcomeClass {
        (400..<500).contains(httpStatus) ? .terminal : .transient
    }
}
