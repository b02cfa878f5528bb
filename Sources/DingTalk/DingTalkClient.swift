import Foundation
import Tracing

/// Calls the grant API and classifies the answer. Knows nothing of the queue.
public struct DingTalkClient: Sendable {
    public let baseURL: String
    let grantURL: String
    let server: (host: String, port: Int)?
    let tokenProvider: any AccessTokenProvider
    let transport: any HTTPTransport

    public init(baseURL: String = DingTalkAPI.defaultBaseURL, tokenProvider: any AccessTokenProvider, transport: any HTTPTransport) {
        self.baseURL = baseURL
        self.grantURL = baseURL.trimmingSuffix("/") + DingTalkAPI.grantPath
        self.server = GrantCallSpan.server(of: baseURL)
        self.tokenProvider = tokenProvider
        self.transport = transport
    }

    /// Applies one grant. Never throws: every failure is a classified result.
    /// A refused token is refreshed once and the call sent again, within the same attempt.
    /// Each call sent is a client span, a child of `context`'s span (the attempt's).
    public func apply(_ grant: VisibilityGrant, context: ServiceContext = .topLevel) async -> APICallResult {
        let body = grant.jsonBody
        var result = APICallResult(outcomeClass: .token, reachedAPI: false)
        for _ in 0..<2 {
            let token: String
            do {
                token = try await tokenProvider.token()
            } catch {
                return Self.withoutGrantCall(error.result)
            }
            let span = GrantCallSpan.start(parent: context, server: server)
            result = await send(body: body, token: token)
            GrantCallSpan.end(span, with: result)
            guard result.outcomeClass == .token else { return result }
            await tokenProvider.invalidate(token)
        }
        return result
    }

    /// A token endpoint that failed (5xx, timeout, reset) means no grant call was
    /// made: the job is not at fault and must not use an attempt. Bad credentials
    /// stay an answer of the API, shown like any config problem.
    static func withoutGrantCall(_ tokenFailure: APICallResult) -> APICallResult {
        var result = tokenFailure
        if result.outcomeClass == .transient || result.outcomeClass == .throttled { result.reachedAPI = false }
        return result
    }

    private func send(body: [UInt8], token: String) async -> APICallResult {
        let request = TransportRequest(
            method: .PUT, url: grantURL,
            headers: [(DingTalkAPI.accessTokenHeader, token), ("Content-Type", "application/json")],
            body: body
        )
        do {
            let response = try await transport.send(request)
            return ResponseClassifier.classify(
                status: response.status, requestIDHeader: response.header(DingTalkAPI.requestIDHeader), body: response.body)
        } catch let error as TransportError {
            return error.result
        } catch {
            return APICallResult(outcomeClass: .transient, code: LocalErrorCode.transportError, message: "\(error)")
        }
    }
}
