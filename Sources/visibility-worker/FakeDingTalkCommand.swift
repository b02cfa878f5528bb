import ArgumentParser
import FakeDingTalk
import Foundation
import HTTPServerSupport

struct FakeDingTalkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fake-dingtalk",
        abstract: "Serve a local stand-in for the DingTalk API, with fault injection.",
        discussion: """
            Same paths, headers, JSON shapes, status codes and error codes as the real
            API for the two endpoints the worker uses. Corp ids must start with "ding";
            opt user ids starting with "nonexistent" answer employee.not.exist.
            GET /__fake/stats and GET /__fake/applied show what it did.

            Example:
              visibility-worker fake-dingtalk --port 0 --qps 20 --faults system.busy=0.1,reset=0.01
              # prints: listening on http://127.0.0.1:PORT
              # (with --tls-cert cert.pem --tls-key key.pem: listening on https://127.0.0.1:PORT)
              DINGTALK_BASE_URL=http://127.0.0.1:PORT DINGTALK_APP_KEY=fake-app-key \\
                  DINGTALK_APP_SECRET=fake-app-secret visibility-worker run
            """
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port; 0 picks a free one.") var port = 0
    @Option(help: "The app key it accepts.") var appKey = "fake-app-key"
    @Option(help: "The app secret it accepts (a test value, not a real secret).") var appSecret = "fake-app-secret"
    @Option(name: .customLong("app"), help: "Another app it serves, as KEY:SECRET (repeatable; each has its own --qps window and counts).")
    var apps: [String] = []
    @Option(name: .customLong("app-fault"), help: "Every grant call of this app answers CODE, as KEY=CODE, e.g. KEY=Forbidden.AccessDenied.IpNotInWhiteList (repeatable).")
    var appFaults: [String] = []
    @Option(name: .customLong("accept-token"), help: "A token accepted without a fetch (repeatable).") var acceptTokens: [String] = []
    @Option(help: "Calls per second per app key before 403 QpsLimitForAppkeyAndApi; 0 = none.") var qps = 0.0
    @Option(help: "Access token lifetime.") var tokenTTL = "7200s"
    @Option(help: "Delay before each grant answer.") var latency = "0ms"
    @Option(help: "Fault rates, e.g. system.busy=0.1,timeout=0.01,reset=0.01,html=0.01.") var faults = ""
    @Option(help: "Seed for the fault dice.") var seed: UInt64 = 1
    @Option(help: "Event loop threads.") var threads = 1
    @Flag(help: "Keep every request for GET /__fake/requests.") var recordRequests = false
    @Flag(help: "Keep call and grant times for GET /__fake/timeline (benchmarks).") var recordTimeline = false
    @Option(help: "Serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with this PEM certificate chain; needs --tls-key.") var tlsCert: String?
    @Option(help: "The PEM private key for --tls-cert.") var tlsKey: String?

    func run() async throws {
        var options = FakeDingTalkOptions()
        options.appKey = appKey
        options.appSecret = appSecret
        options.staticTokens = Set(acceptTokens)
        for app in apps {
            let parts = app.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw ValidationError("--app: expected KEY:SECRET") }
            options.apps[parts[0]] = parts[1]
        }
        for fault in appFaults {
            let parts = fault.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw ValidationError("--app-fault: expected KEY=CODE") }
            options.appFaults[parts[0]] = parts[1]
        }
        guard qps >= 0 else { throw ValidationError("--qps must not be negative") }
        options.qps = qps
        guard let ttl = Settings.duration(tokenTTL), ttl >= .seconds(1) else { throw ValidationError("--token-ttl: expected a duration of at least 1s") }
        options.tokenTTL = ttl
        guard let delay = Settings.duration(latency) else { throw ValidationError("--latency: expected a duration like 5ms") }
        options.latency = delay
        do {
            options.faults = try .init(parsing: faults)
        } catch {
            throw ValidationError("--faults: \(error.description)")
        }
        options.seed = seed
        options.recordRequests = recordRequests
        options.recordTimeline = recordTimeline

        var tls: HTTPServer.TLS?
        switch (tlsCert, tlsKey) {
        case (let cert?, let key?): tls = HTTPServer.TLS(certificateFile: cert, privateKeyFile: key)
        case (nil, nil): tls = nil
        default: throw ValidationError("--tls-cert and --tls-key go together")
        }
        let server: FakeDingTalkServer
        do {
            server = try await FakeDingTalkServer.start(host: host, port: port, options: options, threads: threads, tls: tls)
        } catch let error as HTTPServerError {
            throw ValidationError("--tls-cert/--tls-key: \(error.description)")
        }
        // The first stdout line, flushed at once: scripts wait for it to learn the port.
        FileHandle.standardOutput.write(Data("listening on \(server.baseURL)\n".utf8))
        // The signal only closes the listening socket; the event loops are shut down
        // below, once, after the wait returns (shutting them down from the handler
        // could strand this wait on a loop that no longer runs).
        let signals = handleTerminationSignals { _ in server.close() }
        defer { signals.forEach { $0.cancel() } }
        try await server.waitUntilClosed()
        try? await server.shutdown()
    }
}
