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
        headers.value(forHeader: name)
    }
}

/// Why no response came back. `reachedServer` is false only when the request
/// certainly was not delivered (connection refused, TLS handshake or proxy tunnel failed).
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public var code: String
    public var reachedServer: Bool
    public var description: String

    public init(code: String, reachedServer: Bool, description: String) {
        self.code = code
        self.reachedServer = reachedServer
        self.description = description
    }

    /// The failure as a classified call result (`config` for a broken proxy, else `transient`).
    public var result: APICallResult {
        APICallResult(outcomeClass: LocalErrorCode.outcomeClass(ofTransportFailure: code), code: code, message: description,
                      reachedAPI: reachedServer)
    }
}

extension Array where Element == (String, String) {
    /// The first value of header `name`, compared ignoring ASCII case (header names
    /// are ASCII), without building lowercased copies on every call.
    public func value(forHeader name: String) -> String? {
        first { Self.namesEqual($0.0, name) }?.1
    }

    static func namesEqual(_ a: String, _ b: String) -> Bool {
        a.utf8.elementsEqual(b.utf8) { x, y in
            x == y || (x | 0x20 == y | 0x20 && (x | 0x20) >= UInt8(ascii: "a") && (x | 0x20) <= UInt8(ascii: "z"))
        }
    }
}
