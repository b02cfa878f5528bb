import Foundation
import NIOCore
import NIOPosix

/// Asks the proxy once more for a tunnel it refused, only to learn the status it
/// answers with: AsyncHTTPClient reports every refusal but 407 as one error
/// without the status, and an operator needs the 502 or 503 to know whose fault it is.
/// Runs only after a refusal, and the process then pauses, so it costs one
/// connection to the proxy per pause.
enum ProxyTunnelProbe {
    static func status(proxy: ProxySettings, url: String, timeout: Duration = .seconds(2)) async -> Int? {
        guard let target = URL(string: url), let host = target.host else { return nil }
        let port = target.port ?? (target.scheme == "http" ? 80 : 443)
        return await withTaskGroup(of: Int?.self) { group in
            group.addTask { try? await connectStatus(proxy: proxy, host: host, port: port) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    private static func connectStatus(proxy: ProxySettings, host: String, port: Int) async throws -> Int? {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(2))
            .connect(host: proxy.host, port: proxy.port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        let authority = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        var request = "CONNECT \(authority) HTTP/1.1\r\nHost: \(authority)\r\n"
        if let username = proxy.username {
            let credentials = Data("\(username):\(proxy.password ?? "")".utf8).base64EncodedString()
            request += "Proxy-Authorization: Basic \(credentials)\r\n"
        }
        request += "\r\n"
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
            var received = ""
            for try await chunk in inbound {
                received += String(buffer: chunk)
                if let end = received.range(of: "\r\n") { return statusCode(statusLine: String(received[..<end.lowerBound])) }
                if received.utf8.count > 4096 { break }
            }
            return nil
        }
    }

    /// `HTTP/1.1 503 Service Unavailable` → 503.
    static func statusCode(statusLine: String) -> Int? {
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/") else { return nil }
        return Int(parts[1])
    }
}
