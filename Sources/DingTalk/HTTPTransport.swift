import NIOHTTP1

/// One HTTP exchange, as the DingTalk client sees it. A protocol so tests can
/// put faults and counters between the client and the network.
public protocol HTTPTransport: Sendable {
    /// Sends `request`; throws only when no response came back (timeout,
    /// refused, reset, TLS), never for an error status.
    func send(_ request: TransportRequest) async throws -> TransportResponse
    /// Closes pooled connections; the transport is unusable afterwards.
    func shutdown() async throws
}

public struct TransportRequest: Sendable {
    public var method: HTTPMethod
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(method: HTTPMethod, url: String, headers: [(String, String)], body: [UInt8]) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

public struct TransportResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// Why no response came back. `reachedServer` is false only when the request
/// certainly was not delivered (connection refused).
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public var code: String
    public var reachedServer: Bool
    public var description: String

    public init(code: String, reachedServer: Bool, description: String) {
        self.code = code
        self.reachedServer = reachedServer
        self.description = description
    }
}
