/// The fixed facts of the DingTalk API this project calls (docs/DESIGN.md, Answer table).
public enum DingTalkAPI {
    public static let defaultBaseURL = "https://api.dingtalk.com"
    /// `PUT`: makes an enterprise account visible in other organizations.
    public static let grantPath = "/v1.0/contact/orgAccounts/mobiles/visibleInOtherOrg"
    /// `POST`: an internal app's access token from its key and secret.
    public static let accessTokenPath = "/v1.0/oauth2/accessToken"
    public static let accessTokenHeader = "x-acs-dingtalk-access-token"
    public static let requestIDHeader = "x-acs-request-id"
    /// What a successful grant answers, byte for byte.
    public static let successBody = Array(#"{"result":true}"#.utf8)
}
