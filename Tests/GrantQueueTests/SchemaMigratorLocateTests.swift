import Foundation
import GrantQueue
import XCTest

/// `migrate` finds the migrations an install put beside the binary, as the
/// Debian package (/usr/bin → /usr/share/visibility-worker/sql) and the tarball
/// (/usr/local/bin → /usr/local/share/visibility-worker/sql) lay them out.
final class SchemaMigratorLocateTests: XCTestCase {
    private var prefix: URL!

    override func setUpWithError() throws {
        prefix = FileManager.default.temporaryDirectory.appendingPathComponent("locate-\(UUID().uuidString)/usr")
        try FileManager.default.createDirectory(at: prefix.appendingPathComponent("bin"), withIntermediateDirectories: true)
        let sql = prefix.appendingPathComponent("share/visibility-worker/sql")
        try FileManager.default.createDirectory(at: sql, withIntermediateDirectories: true)
        try Data("SELECT 1;\n".utf8).write(to: sql.appendingPathComponent("001_first.sql"))
        try Data().write(to: prefix.appendingPathComponent("bin/visibility-worker"))
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: prefix.deletingLastPathComponent())
    }

    func testAnInstalledBinaryFindsShareVisibilityWorkerSql() throws {
        let found = try SchemaMigrator.locateDirectory(explicit: nil, executablePath: prefix.appendingPathComponent("bin/visibility-worker").path)
        XCTAssertEqual(found.standardizedFileURL.path, prefix.appendingPathComponent("share/visibility-worker/sql").path)
    }

    func testASymlinkToTheBinaryFindsTheInstallsMigrations() throws {
        let elsewhere = prefix.deletingLastPathComponent().appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let link = elsewhere.appendingPathComponent("visibility-worker")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: prefix.appendingPathComponent("bin/visibility-worker"))
        let found = try SchemaMigrator.locateDirectory(explicit: nil, executablePath: link.path)
        XCTAssertEqual(found.standardizedFileURL.path, prefix.appendingPathComponent("share/visibility-worker/sql").path)
    }
}
