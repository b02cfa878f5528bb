import HTTPServerSupport
import NIOCore
import NIOHTTP1

/// One connection's requests: lets `ConsoleApp` answer each off the event loop,
/// and writes the answer back (or hands the connection to the live updates).
final class ConsoleResponder: HTTPResponder {
    /// Forms are a few fields; anything bigger is not one of ours.
    static let maxBody = 64 * 1024

    private let app: ConsoleApp

    init(app: ConsoleApp) {
        self.app = app
    }

    var headersOnEveryResponse: [(String, String)] { [("Cache-Control", "no-store")] + ConsoleResponse.securityHeaders }

    func respond(to request: HTTPServerRequest, on connection: HTTPConnection) {
        let consoleRequest = ConsoleRequest(head: request.head, body: request.body)
        let app = self.app
        let promise = connection.eventLoop.makePromise(of: ConsoleApp.Outcome.self)
        promise.completeWithTask { await app.handle(consoleRequest) }
        promise.futureResult.whenSuccess { outcome in
            switch outcome {
            case .respond(let response):
                connection.write(status: response.status, headers: response.headers + ConsoleResponse.securityHeaders,
                                 body: response.body)
            case .stream:
                app.events.subscribe(connection.channel, version: connection.httpVersion)
            }
        }
    }
}
