import DingTalk
import XCTest

/// One test per row of docs/DESIGN.md, Answer table, plus garbage.
final class ResponseClassifierTests: XCTestCase {
    private func classify(_ status: Int, _ body: String, header: String? = "HDR-ID") -> APICallResult {
        ResponseClassifier.classify(status: status, requestIDHeader: header, body: Array(body.utf8))
    }

    private func error(_ code: String, requestID: String = "BODY-ID") -> String {
        #"{"code":"\#(code)","message":"m","requestid":"\#(requestID)"}"#
    }

    func testSuccessOnlyOn200WithResultTrue() {
        let ok = classify(200, #"{"result":true}"#)
        XCTAssertEqual(ok.outcomeClass, .success)
        XCTAssertEqual(ok.httpStatus, 200)
        XCTAssertEqual(ok.requestID, "HDR-ID", "the header's id is kept when the body has none")
        for notSuccess in [#"{"result":false}"#, #"{"result":"true"}"#, #"{"result":1}"#, #"{}"#, #"{"success":true}"#, #"{"result":null}"#] {
            let result = classify(200, notSuccess)
            XCTAssertNotEqual(result.outcomeClass, .success, notSuccess)
            XCTAssertEqual(result.outcomeClass, .transient, notSuccess)
            XCTAssertEqual(result.code, LocalErrorCode.unexpectedResponse)
        }
    }

    func testInvalidAuthenticationIsATokenProblem() {
        let result = classify(400, error("InvalidAuthentication"))
        XCTAssertEqual(result.outcomeClass, .token)
        XCTAssertEqual(result.code, "InvalidAuthentication")
        XCTAssertEqual(result.requestID, "BODY-ID", "the body's requestid wins over the header")
    }

    func testBadCredentialsAreAConfigProblem() {
        XCTAssertEqual(classify(400, error("invalidClientIdOrSecret")).outcomeClass, .config)
    }

    func testJobErrorsAreTerminalWithCodeMessageAndRequestID() {
        for code in ["invalid.param", "employee.not.exist", "profile.not.exist", "exclusive.account.limit", "some.other.4xx"] {
            let result = classify(400, error(code))
            XCTAssertEqual(result.outcomeClass, .terminal, code)
            XCTAssertEqual(result.code, code)
            XCTAssertEqual(result.message, "m")
            XCTAssertEqual(result.httpStatus, 400)
            XCTAssertEqual(result.requestID, "BODY-ID")
        }
        XCTAssertEqual(classify(404, error("InvalidAction.NotFound")).outcomeClass, .terminal)
    }

    func testQPSAndQPMLimitsAreThrottling() {
        for code in ["Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", "Forbidden.AccessDenied.QpsLimitForApi",
                     "Forbidden.AccessDenied.QpmLimitForAppkeyAndApi"] {
            XCTAssertEqual(classify(403, error(code)).outcomeClass, .throttled, code)
        }
    }

    func testPermissionAndWhitelistAreConfigProblems() {
        for code in ["Forbidden.AccessDenied.AccessTokenPermissionDenied", "Forbidden.AccessDenied.IpNotInWhiteList"] {
            XCTAssertEqual(classify(403, error(code)).outcomeClass, .config, code)
        }
    }

    func testMonthlyQuotaIsQuota() {
        XCTAssertEqual(classify(403, error("Forbidden.AccessDenied.ApiCountLimitForOrg")).outcomeClass, .quota)
    }

    func testServerErrorsAreTransient() {
        XCTAssertEqual(classify(500, error("system.busy")).outcomeClass, .transient)
        XCTAssertEqual(classify(500, error("system.busy")).code, "system.busy")
        XCTAssertEqual(classify(503, error("ServiceUnavailable")).outcomeClass, .transient)
        let noCode = classify(502, #"{"message":"upstream"}"#)
        XCTAssertEqual(noCode.outcomeClass, .transient)
        XCTAssertEqual(noCode.code, "http.502")
    }

    func testBranchesOnCodeNotStatus() {
        XCTAssertEqual(classify(200, error("system.busy")).outcomeClass, .transient)
        XCTAssertEqual(classify(500, error("invalid.param")).outcomeClass, .terminal)
    }

    func testPunishDenyIsABan() {
        let result = classify(403, #"{"code":"Forbidden","message":"m","punish":"deny"}"#)
        XCTAssertEqual(result.outcomeClass, .banned)
        XCTAssertEqual(classify(200, #"{"result":true,"punish":"deny"}"#).outcomeClass, .banned)
        XCTAssertEqual(classify(503, #"{"punish":"deny"}"#).outcomeClass, .banned, "the signature is checked before the status")
    }

    func testGarbageBodiesAreClassifiedNeverACrash() {
        let garbage: [(String, [UInt8])] = [
            ("html", Array("<html><body>502 Bad Gateway</body></html>".utf8)),
            ("empty", []),
            ("truncated JSON", Array(#"{"result":tr"#.utf8)),
            ("JSON array", Array("[true]".utf8)),
            ("JSON string", Array(#""ok""#.utf8)),
            ("number", Array("42".utf8)),
            ("invalid UTF-8", [0xFF, 0xFE, 0x7B, 0x00]),
            ("binary", (0..<256).map { UInt8($0) }),
            ("whitespace", Array("   \n".utf8)),
            ("null", Array("null".utf8)),
        ]
        for (name, body) in garbage {
            let result = ResponseClassifier.classify(status: 200, requestIDHeader: "H", body: body)
            XCTAssertEqual(result.outcomeClass, .transient, name)
            XCTAssertEqual(result.code, LocalErrorCode.nonJSONBody, name)
            XCTAssertEqual(result.requestID, "H", name)
        }
        // Wrong types inside a JSON object are not trusted, and not fatal: without a
        // code it is not DingTalk's error shape, so it fails no job for good.
        let wrongTypes = classify(400, #"{"code":123,"message":["x"],"requestid":{}}"#)
        XCTAssertEqual(wrongTypes.outcomeClass, .transient)
        XCTAssertEqual(wrongTypes.code, "http.400")
        XCTAssertEqual(wrongTypes.requestID, "HDR-ID")
    }

    // MARK: Status first (issue 27): what gateways, proxies and load balancers answer.

    private static let nginx502 = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

    func testAGatewayErrorPageIsTransientNeverABan() {
        let result = classify(502, Self.nginx502)
        XCTAssertEqual(result.outcomeClass, .transient)
        XCTAssertEqual(result.httpStatus, 502)
        XCTAssertEqual(result.code, "http.502")
        XCTAssertTrue(result.message?.hasPrefix("<html>") == true, "the page's first bytes are kept: \(result.message ?? "nil")")
    }

    func testEvery5xxAnd408IsTransientWhateverTheBody() {
        let bodies = [Self.nginx502, "", "Service Unavailable", #"{"message":"upstream"}"#, #"{"code":"NotADingTalkCode","message":"m"}"#, "[1]"]
        for status in [408, 500, 502, 503, 504, 520, 599] {
            for body in bodies {
                let result = classify(status, body)
                XCTAssertEqual(result.outcomeClass, .transient, "\(status) \(body)")
                XCTAssertEqual(result.httpStatus, status)
            }
        }
    }

    func test429IsThrottledWhateverTheBody() {
        let bodies = ["Too Many Requests", "", "<html><body>429 Too Many Requests</body></html>",
                      #"{"code":"Throttling","message":"Request was denied due to flow control."}"#,
                      #"{"code":"invalid.param","message":"m"}"#, #"{"message":"slow down"}"#]
        for body in bodies {
            XCTAssertEqual(classify(429, body).outcomeClass, .throttled, body)
        }
        let json = classify(429, #"{"code":"Throttling","message":"Request was denied due to flow control.","requestid":"R"}"#)
        XCTAssertEqual(json.code, "Throttling", "the gateway's code is recorded")
        XCTAssertEqual(json.requestID, "R")
        let text = classify(429, "Too Many Requests")
        XCTAssertEqual(text.code, "http.429")
        XCTAssertEqual(text.message, "Too Many Requests")
    }

    func testAKnownCodeKeepsItsClassWhateverTheStatus() {
        for entry in DingTalkErrorCode.all {
            for status in [200, 400, 403, 404, 500, 502, 503] {
                XCTAssertEqual(classify(status, error(entry.code)).outcomeClass, entry.outcomeClass, "\(status) \(entry.code)")
            }
        }
    }

    func testAnUnknownCodeWithA4xxIsStillTerminal() {
        XCTAssertEqual(classify(400, error("some.other.4xx")).outcomeClass, .terminal)
        XCTAssertEqual(classify(403, error("Forbidden.Other")).outcomeClass, .terminal)
    }

    func testOnlyDingTalksBanSignatureIsABan() {
        // As JSON, whatever the status, and inside a page.
        for status in [200, 403, 405, 500] {
            let result = classify(status, BanSignature.document(uuid: "u-1"))
            XCTAssertEqual(result.outcomeClass, .banned, "\(status)")
            XCTAssertEqual(result.code, LocalErrorCode.punished)
        }
        XCTAssertEqual(classify(200, BanSignature.page(uuid: "u-2")).outcomeClass, .banned)
        XCTAssertEqual(classify(200, "<html><script>var punish = { \"punish\" : \"deny\" };</script></html>").outcomeClass, .banned)
        // Look-alikes are not bans.
        for body in ["<html><body><h1>403 Forbidden</h1></body></html>", "Forbidden", #"{"punish":"allow"}"#,
                     "<html>punish deny</html>", ""] {
            XCTAssertNotEqual(classify(403, body).outcomeClass, .banned, body)
            XCTAssertNotEqual(classify(200, body).outcomeClass, .banned, body)
        }
    }

    func testAnythingElseNotJSONIsTransientWithItsFirstBytes() {
        let long = "<html>" + String(repeating: "x", count: 5000) + "</html>"
        for status in [200, 301, 400, 403, 404] {
            let result = classify(status, long)
            XCTAssertEqual(result.outcomeClass, .transient, "\(status)")
            XCTAssertEqual(result.code, LocalErrorCode.nonJSONBody)
            XCTAssertTrue(result.message?.hasPrefix("<html>xxx") == true)
            XCTAssertLessThan(result.message?.utf8.count ?? 0, 300, "only the first bytes")
        }
    }

    func testEveryCatalogCodeClassifiesAsItsTableSays() {
        for entry in DingTalkErrorCode.all {
            XCTAssertEqual(classify(entry.httpStatus, error(entry.code)).outcomeClass, entry.outcomeClass, entry.code)
        }
    }
}

final class VisibilityGrantTests: XCTestCase {
    func testTheHandWrittenBodyDecodesToTheSameGrant() throws {
        let grants = [
            VisibilityGrant(toCorpIds: ["ding1"], optUserId: "u"),
            VisibilityGrant(toCorpIds: ["ding1", "ding\"2\\", "汉字🙂"], optUserId: "tab\tnew\nline\u{1}", fields: ["mobile", "status"]),
        ]
        for grant in grants {
            let decoded = try JSONDecoder().decode(VisibilityGrant.self, from: Data(grant.jsonBody))
            XCTAssertEqual(decoded, grant)
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(grant.jsonBody)) as? [String: Any])
            XCTAssertEqual(object["fields"] == nil, grant.fields.isEmpty, "empty fields are left out")
        }
        XCTAssertEqual(String(decoding: grants[0].jsonBody, as: UTF8.self), #"{"toCorpIds":["ding1"],"optUserId":"u"}"#)
    }
}

/// A span names DingTalk's codes `dingtalk.code` and ours `error.type`.
final class LocalErrorCodeTests: XCTestCase {
    /// No code of the table may pass for ours.
    func testOurCodesAreNeverTakenForDingTalksOwn() {
        for entry in DingTalkErrorCode.all {
            XCTAssertFalse(LocalErrorCode.isLocal(entry.code), entry.code)
        }
        for code in [LocalErrorCode.timeout, LocalErrorCode.nonJSONBody, LocalErrorCode.proxyTunnelRefused,
                     LocalErrorCode.punished, LocalErrorCode.httpStatus(502)] {
            XCTAssertTrue(LocalErrorCode.isLocal(code), code)
        }
    }
}
