import Foundation
import XCTest

/// A real forward proxy (Debian's tinyproxy; scripts/test installs it) on a free
/// port of 127.0.0.1, with its log in a throwaway folder. It logs one
/// `Request (file descriptor N): CONNECT host:port HTTP/1.1` line per tunnel.
final class Tinyproxy {
    let port: Int
    let directory: URL
    private let process = Process()
    var logFile: URL { directory.appendingPathComponent("tinyproxy.log") }
    var url: String { "http://127.0.0.1:\(port)" }

    /// With `basicAuth`, CONNECT without those credentials is answered 407.
    init(basicAuth: (user: String, password: String)? = nil, testCase: XCTestCase) throws {
        port = try freeLocalPort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("vw-tinyproxy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = """
            Port \(port)
            Listen 127.0.0.1
            Timeout 30
            LogFile "\(logFile.path)"
            LogLevel Info
            MaxClients 200
            Allow 127.0.0.1
            DisableViaHeader Yes

            """
        if let basicAuth { configuration += "BasicAuth \(basicAuth.user) \(basicAuth.password)\n" }
        let configurationFile = directory.appendingPathComponent("tinyproxy.conf")
        try Data(configuration.utf8).write(to: configurationFile)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["tinyproxy", "-d", "-c", configurationFile.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try testCase.waitUntil(timeout: .seconds(10), "tinyproxy to listen") { canConnect(port: port) }
        guard canConnect(port: port) else {
            XCTFail("tinyproxy did not listen on port \(port); is it installed (apt-get install tinyproxy)?")
            throw CocoaError(.executableLoad)
        }
    }

    /// The CONNECT requests tinyproxy received, as `host:port` targets.
    var connectTargets: [String] {
        let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        return log.split(separator: "\n").compactMap { line in
            guard let range = line.range(of: "): CONNECT ") else { return nil }
            return line[range.upperBound...].split(separator: " ").first.map(String.init)
        }
    }

    /// SIGKILL, because a child of the test runner starts with SIGTERM blocked (inherited
    /// from the Dispatch thread that spawned it) and tinyproxy does not unblock it.
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A port on 127.0.0.1 that nothing listens on right now (bound, read, closed).
func freeLocalPort() throws -> Int {
    let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socketFD >= 0 else { throw POSIXError(.EMFILE) }
    defer { close(socketFD) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, length) == 0 && getsockname(socketFD, $0, &length) == 0 }
    }
    guard bound else { throw POSIXError(.EADDRINUSE) }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// True when something accepts TCP connections on 127.0.0.1:`port`.
func canConnect(port: Int) -> Bool {
    let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socketFD >= 0 else { return false }
    defer { close(socketFD) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}
