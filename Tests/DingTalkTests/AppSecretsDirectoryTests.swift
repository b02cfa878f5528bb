import DingTalk
import Foundation
import XCTest

/// Secrets as a mounted Kubernetes Secret lays them out: one file per app key.
final class AppSecretsDirectoryTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("vw-secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: folder)
    }

    private func write(_ text: String, to name: String) throws {
        try Data(text.utf8).write(to: folder.appendingPathComponent(name), options: .atomic)
    }

    func testKeysAreFileNamesAndReloadSaysWhatChanged() throws {
        try write("secret-a\n", to: "key-a")
        try write("secret-b", to: "key-b")
        try write("", to: "key-empty")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("..2026_12_02"), withIntermediateDirectories: true)
        try write("not a key", to: "..data")
        let secrets = try AppSecretsDirectory(path: folder.path)
        XCTAssertEqual(secrets.appKeys, ["key-a", "key-b"], "hidden names and empty files are not keys")
        XCTAssertEqual(secrets.secret(forKey: "key-a"), "secret-a", "trailing newline trimmed")
        XCTAssertNil(secrets.secret(forKey: "../key-a"))

        try write("secret-a2", to: "key-a")
        try FileManager.default.removeItem(at: folder.appendingPathComponent("key-b"))
        try write("secret-c", to: "key-c")
        XCTAssertEqual(secrets.reload(), ["key-a", "key-b", "key-c"])
        XCTAssertEqual(secrets.appKeys, ["key-a", "key-c"])
        XCTAssertEqual(secrets.reload(), [], "nothing changed since")
    }

    func testAMissingFolderIsAClearError() {
        XCTAssertThrowsError(try AppSecretsDirectory(path: folder.path + "/nope")) { error in
            XCTAssertTrue("\(error)".contains("DINGTALK_APP_SECRETS_DIR: cannot list"), "\(error)")
        }
    }

    func testATokenFetchReadsTheFileAgain() async throws {
        try write("old", to: "key-a")
        let secrets = try AppSecretsDirectory(path: folder.path)
        let transport = ScriptedTransport { _ in jsonResponse(400, #"{"code":"invalidClientIdOrSecret","message":"m"}"#) }
        let provider = AppAccessTokenProvider(appKey: "key-a", secret: { secrets.secret(forKey: "key-a") },
                                              baseURL: "http://127.0.0.1:9", transport: transport)
        _ = try? await provider.token()
        try write("new", to: "key-a")
        _ = try? await provider.token()
        try FileManager.default.removeItem(at: folder.appendingPathComponent("key-a"))
        do {
            _ = try await provider.token()
            XCTFail("no secret, no token")
        } catch {
            XCTAssertEqual(error.result.code, "secret.missing")
            XCTAssertEqual(error.result.outcomeClass, .config)
        }
        let sent = try transport.requests.map { try JSONDecoder().decode([String: String].self, from: Data($0.body)) }
        XCTAssertEqual(sent, [["appKey": "key-a", "appSecret": "old"], ["appKey": "key-a", "appSecret": "new"]],
                       "the refused fetch read the rotated file; a missing file sends nothing")
    }
}
