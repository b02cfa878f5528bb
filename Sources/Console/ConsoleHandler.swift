import HTTPServerSupport
import NIOCore
import NIOHTTP1

/// One connection's requests: gathers each (with a bounded body), lets
/// `ConsoleApp` answer it off the event loop, and writes the answer back.
final class ConsoleHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Forms are a few fields; anything bigger is not one of ours.
    static let maxBody = 64 * 1024

    private let app: ConsoleApp
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    init(app: ConsoleApp) {
        self.app = app
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body = []
            tooLarge = false
        case .body(var buffer):
            if body.count + buffer.readableBytes > Self.maxBody {
                tooLarge = true
            } else if let bytes = buffer.readBytes(length: buffer.readableBytes) {
                body += bytes
            }
        case .end:
            guard let head else { return }
            self.head = nil
            if tooLarge {
                write(.text("request body too large", status: .payloadTooLarge), context: context, head: head)
                return
            }
            let request = ConsoleRequest(head: head, body: body)
            body = []
            let app = self.app
            let promise = context.eventLoop.makePromise(of: ConsoleApp.Outcome.self)
            promise.completeWithTask { await app.handle(request) }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            promise.futureResult.assumeIsolated().whenSuccess { outcome in
                let (handler, context) = bound.value
                switch outcome {
                case .respond(let response): handler.write(response, context: context, head: head)
                case .stream: app.events.subscribe(context.channel, version: head.version)
                }
            }
        }
    }

    private func write(_ response: ConsoleResponse, context: ChannelHandlerContext, head: HTTPRequestHead) {
        context.writeHTTPResponse(status: response.status, headers: response.headers + ConsoleResponse.securityHeaders,
                                  body: response.body, keepAlive: head.isKeepAlive, version: head.version)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
