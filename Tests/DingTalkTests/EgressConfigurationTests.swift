@testable import DingTalk
import Foundation
import XCTest

/// Which proxy a call takes, read from flags and the environment as curl reads them.
final class EgressConfigurationTests: XCTestCase {
    func testNoProxyMatchesHostsAndDomainSuffixesOnly() {
        let list = NoProxyList(" Example.com, .internal.corp ,10.0.0.7,localhost:8080,[::1], ")
        for host in ["example.com", "api.example.com", "EXAMPLE.COM.", "x.internal.corp", "internal.corp", "10.0.0.7", "localhost", "::1", "[::1]"] {
            XCTAssertTrue(list.matches(host: host), host)
        }
        for host in ["badexample.com", "example.com.evil", "corp", "10.0.0.70", "api.dingtalk.com"] {
            XCTAssertFalse(list.matches(host: host), host)
        }
        XCTAssertTrue(NoProxyList("foo, *").matches(host: "api.dingtalk.com"), "* alone means every host")
        XCTAssertFalse(NoProxyList("").matches(host: "api.dingtalk.com"))
    }

    func testProxyURLsAreReadWithCredentialsThatNeverShow() throws {
        let proxy = try ProxySettings(url: "http://us%40er:p%3Ass@proxy.corp:3128/", source: "HTTPS_PROXY")
        XCTAssertEqual(proxy.host, "proxy.corp")
        XCTAssertEqual(proxy.port, 3128)
        XCTAssertEqual(proxy.username, "us@er")
        XCTAssertEqual(proxy.password, "p:ss")
        XCTAssertEqual(proxy.description, "http://proxy.corp:3128")
        XCTAssertEqual(try ProxySettings(url: "proxy.corp", source: "x").port, ProxySettings.defaultPort, "curl's default port")
        XCTAssertEqual(try ProxySettings(url: "http://[::1]:8080", source: "x").description, "http://[::1]:8080")
        for bad in ["https://u:secret@proxy:443", "socks5://u:secret@proxy:1080", "http://u:secret@proxy:99999", "http://u:secret@:80", "http://u:secret@proxy:port"] {
            XCTAssertThrowsError(try ProxySettings(url: bad, source: "--proxy")) { error in
                XCTAssertFalse("\(error)".contains("secret"), "\(error)")
                XCTAssertTrue("\(error)".contains("--proxy"), "\(error)")
            }
        }
    }

    func testTheProxyIsChosenAsCurlChoosesIt() throws {
        func proxy(_ base: String, _ environment: [String: String], override: String? = nil) throws -> String? {
            try EgressConfiguration.resolve(baseURL: base, proxyOverride: override, environment: environment).proxy?.description
        }
        let https = "https://api.dingtalk.com"
        XCTAssertNil(try proxy(https, [:]))
        XCTAssertEqual(try proxy(https, ["HTTPS_PROXY": "http://a:1"]), "http://a:1")
        XCTAssertEqual(try proxy(https, ["HTTPS_PROXY": "http://a:1", "https_proxy": "http://b:2"]), "http://b:2", "lower case first")
        XCTAssertNil(try proxy(https, ["HTTP_PROXY": "http://a:1"]), "an http proxy is for http URLs")
        XCTAssertEqual(try proxy("http://127.0.0.1:8080", ["http_proxy": "http://a:1"]), "http://a:1")
        XCTAssertEqual(try proxy(https, ["ALL_PROXY": "http://c:3"]), "http://c:3")
        XCTAssertNil(try proxy(https, ["HTTPS_PROXY": "http://a:1", "NO_PROXY": "localhost,.dingtalk.com"]))
        XCTAssertNil(try proxy(https, ["HTTPS_PROXY": "http://a:1", "no_proxy": "*"]))
        XCTAssertEqual(try proxy(https, ["HTTPS_PROXY": "http://a:1", "NO_PROXY": "dingtalk.co"]), "http://a:1")
        XCTAssertEqual(try proxy(https, ["HTTPS_PROXY": "http://a:1", "NO_PROXY": "*"], override: "http://d:4"), "http://d:4",
                       "--proxy wins over everything")
    }

    func testCertificateFilesMustLoadAtStartupNamingTheSetting() throws {
        let missing = "/nonexistent/ca.pem"
        XCTAssertThrowsError(try EgressConfiguration.resolve(baseURL: "https://x", caFile: missing, environment: [:])) { error in
            XCTAssertTrue("\(error)".contains("--ca-file"), "\(error)")
        }
        let notPEM = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-cert-\(UUID().uuidString).pem")
        try Data("hello".utf8).write(to: notPEM)
        defer { try? FileManager.default.removeItem(at: notPEM) }
        XCTAssertThrowsError(try EgressConfiguration.resolve(baseURL: "https://x", environment: ["SSL_CERT_FILE": notPEM.path])) { error in
            XCTAssertTrue("\(error)".contains("SSL_CERT_FILE"), "\(error)")
        }
    }
}
