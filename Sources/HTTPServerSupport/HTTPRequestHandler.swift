import NIOCore
import NIOHTTP1

/// One whole request, as `HTTPRequestHandler` gathered it.
public struct HTTPServerRequest: Sendable {
    public var head: HTTPRequestHead
    public var body: [UInt8]

    public var method: HTTPMethod { head.method }
    public var uri: String { head.uri }
    /// The target without its query string.
    public var path: String { requestPath(head.uri) }
}

/// Answers the requests of one connection. Called on the connection's event loop,
/// one request after another; the answer may come later (`connection` may be kept).
public protocol HTTPResponder: AnyObject {
    func respond(to request: HTTPServerRequest, on connection: HTTPConnection)
    /// The connection closed (whatever was still unanswered will never be).
    func connectionClosed()
    /// Headers every answer carries, also the handler's own (a 413): a console's
    /// security headers, say.
    var headersOnEveryResponse: [(String, String)] { get }
}

extension HTTPResponder {
    public func connectionClosed() {}
    public var headersOnEveryResponse: [(String, String)] { [] }
}

/// The connection a request came on, for writing its answer: on the connection's
/// event loop, which `eventLoop` names (hop there before `write` from elsewhere).
public struct HTTPConnection: Sendable {
    private let context: NIOLoopBound<ChannelHandlerContext>
    private let version: HTTPVersion
    private let keepAlive: Bool

    init(context: ChannelHandlerContext, head: HTTPRequestHead) {
        self.context = NIOLoopBound(context, eventLoop: context.eventLoop)
        self.version = head.version
        self.keepAlive = head.isKeepAlive
    }

    public var eventLoop: any EventLoop { context.eventLoop }
    public var channel: any Channel { context.value.channel }
    /// HTTP/1.1, or 2.0 for a request that came on an HTTP/2 stream.
    public var httpVersion: HTTPVersion { version }
    public var isActive: Bool { context.value.channel.isActive }

    /// Writes a whole response (closing the connection after it if the request asked to).
    public func write(status: HTTPResponseStatus, headers: [(String, String)], body: [UInt8]) {
        context.value.writeHTTPResponse(status: status, headers: headers, body: body, keepAlive: keepAlive, version: version)
    }

    /// Drops the connection without an answer.
    public func close() {
        context.value.close(promise: nil)
    }
}

/// The one request handler of every server here (the fake API, `/metrics`, the
/// console): gathers a request's head and body, refuses a body above `maxBody`
/// with 413, and hands the request to the connection's responder.
public final class HTTPRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias OutboundOut = HTTPServerResponsePart

    private let responder: any HTTPResponder
    private let maxBody: Int
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    public init(maxBody: Int, responder: any HTTPResponder) {
        self.maxBody = maxBody
        self.responder = responder
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body.removeAll(keepingCapacity: true)
            tooLarge = false
        case .body(var buffer):
            if body.count + buffer.readableBytes > maxBody {
                tooLarge = true
            } else {
                body.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
            }
        case .end:
            guard let head else { return }
            self.head = nil
            let connection = HTTPConnection(context: context, head: head)
            if tooLarge {
                connection.write(status: .payloadTooLarge,
                                 headers: [("Content-Type", "text/plain; charset=utf-8")] + responder.headersOnEveryResponse,
                                 body: Array("request body too large\n".utf8))
                return
            }
            responder.respond(to: HTTPServerRequest(head: head, body: body), on: connection)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        responder.connectionClosed()
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
