import Synchronization

/// What a server's connections were: how many were accepted, how many of them
/// negotiated HTTP/2, and how many HTTP/2 streams (requests) they carried.
/// Lets a test see that a client kept to one connection.
public final class ConnectionCounters: Sendable {
    private let acceptedCount = Atomic<Int>(0)
    private let http2Count = Atomic<Int>(0)
    private let http2StreamCount = Atomic<Int>(0)

    public init() {}

    public var accepted: Int { acceptedCount.load(ordering: .relaxed) }
    public var http2Connections: Int { http2Count.load(ordering: .relaxed) }
    public var http2Streams: Int { http2StreamCount.load(ordering: .relaxed) }

    func connectionAccepted() { acceptedCount.add(1, ordering: .relaxed) }
    func http2Negotiated() { http2Count.add(1, ordering: .relaxed) }
    func http2StreamOpened() { http2StreamCount.add(1, ordering: .relaxed) }
}
