import NIOCore
import NIOPosix

/// A TCP server on 127.0.0.1 that answers whatever arrives in one fixed way:
/// resets the connection (RST, through SO_LINGER 0), or writes some bytes and
/// closes. For failures no well-behaved server makes on purpose.
final class ScriptedSocketServer: Sendable {
    enum Behaviour: Sendable {
        case reset
        case answer(String)
    }

    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    var port: Int { channel.localAddress?.port ?? 0 }

    init(_ behaviour: Behaviour) async throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard let socket = channel as? any SocketOptionProvider else {
                    return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
                }
                return socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(Responder(behaviour: behaviour))
                }
            }
        channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
    }

    func shutdown() async throws {
        try? await channel.close()
        try await group.shutdownGracefully()
    }

    private final class Responder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let behaviour: Behaviour

        init(behaviour: Behaviour) {
            self.behaviour = behaviour
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch behaviour {
            case .reset:
                context.close(promise: nil)  // with SO_LINGER 0: an RST, not a FIN
            case .answer(let text):
                let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text))).assumeIsolated().whenComplete { _ in
                    loopBound.value.close(mode: .output, promise: nil)
                }
            }
        }
    }
}
