import DingTalk

/// Counters for tests and the demo: `GET /__fake/stats`.
extension FakeDingTalkState {
    public struct Stats: Codable, Sendable, Equatable {
        public var calls: Int
        public var applied: Int
        public var tokenRequests: Int
        public var inFlight: Int
        public var maxInFlight: Int
        public var codes: [String: Int]
        /// TCP connections accepted (each one a TLS handshake over HTTPS).
        public var connections: Int
        /// Of those, the ones that negotiated HTTP/2, and the streams (requests) they carried.
        public var http2Connections: Int
        public var http2Streams: Int
        /// By app key: calls that carried a valid token, what they did and were answered.
        public var apps: [String: AppStats]

        enum CodingKeys: String, CodingKey {
            case calls, applied, tokenRequests, inFlight, maxInFlight, codes, connections, apps
            case http2Connections = "http2_connections"
            case http2Streams = "http2_streams"
        }
    }

    /// Per app key: calls with a valid token, grants applied, and the codes answered.
    public struct AppStats: Codable, Sendable, Equatable {
        public var calls = 0
        public var applied = 0
        public var codes: [String: Int] = [:]

        public init(calls: Int = 0, applied: Int = 0, codes: [String: Int] = [:]) {
            self.calls = calls
            self.applied = applied
            self.codes = codes
        }

        mutating func count(_ answer: FakeAnswer) {
            calls += 1
            if let code = answer.appCode {
                codes[code, default: 0] += 1
            } else {
                applied += 1
            }
        }
    }

    /// One consistent snapshot: every counter as of the same moment.
    public var stats: Stats {
        inner.withLock { stats(of: $0) }
    }

    func stats(of state: Inner) -> Stats {
        Stats(calls: state.calls, applied: state.applied.count, tokenRequests: state.tokenRequests, inFlight: state.inFlight,
              maxInFlight: state.maxInFlight, codes: state.codes, connections: connections.accepted,
              http2Connections: connections.http2Connections, http2Streams: connections.http2Streams, apps: state.apps)
    }
}
