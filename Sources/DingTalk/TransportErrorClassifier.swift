import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP2
import NIOPosix
import NIOSSL

/// Names a failure that left no HTTP response, from the error's type, never its
/// text: the name decides whether an attempt is used and whether the process pauses.
///
/// `reachedServer` is false only when the request certainly was not delivered
/// (no connection, no TLS session, no tunnel). With a proxy, a failure to reach
/// the proxy or to open its tunnel is the proxy's, not DingTalk's: a `proxy.*` code.
enum TransportErrorClassifier {
    /// `proxyStatus`: what the proxy answered CONNECT with, when known (`ProxyTunnelProbe`).
    static func classify(_ error: any Error, proxy: ProxySettings?, proxyStatus: Int? = nil) -> TransportError {
        let text = String(describing: error)
        func failure(_ code: String, reachedServer: Bool, _ message: String? = nil) -> TransportError {
            TransportError(code: code, reachedServer: reachedServer, description: message ?? text)
        }
        func proxyFailure(_ code: String, _ what: String) -> TransportError {
            TransportError(code: code, reachedServer: false, description: "egress proxy \(proxy.map(String.init(describing:)) ?? "?"): \(what) (\(text))")
        }

        if let clientError = error as? HTTPClientError {
            switch clientError {
            case .proxyAuthenticationRequired:
                return proxyFailure(LocalErrorCode.proxyAuthenticationRequired,
                                    "answered CONNECT with 407 Proxy Authentication Required; check the proxy credentials")
            case .invalidProxyResponse where proxyStatus == 401:
                // Some proxies (tinyproxy among them) answer wrong credentials with 401, not 407.
                return proxyFailure(LocalErrorCode.proxyAuthenticationRequired,
                                    "answered CONNECT with 401 Unauthorized; check the proxy credentials")
            case .invalidProxyResponse:
                return proxyFailure(LocalErrorCode.proxyTunnelRefused,
                                    "refused to open a CONNECT tunnel: answered \(proxyStatus.map(String.init) ?? "neither 2xx nor 407")")
            case .httpProxyHandshakeTimeout, .socksHandshakeTimeout:
                return proxyFailure(LocalErrorCode.proxyUnreachable, "did not answer CONNECT in time")
            case .connectTimeout:
                // No connection could be made at all; with a proxy, the connection is to the proxy.
                if proxy != nil { return proxyFailure(LocalErrorCode.proxyUnreachable, "no connection to it in time") }
                return failure(LocalErrorCode.timeout, reachedServer: false)
            case .getConnectionFromPoolTimeout, .tlsHandshakeTimeout:
                return failure(LocalErrorCode.timeout, reachedServer: false)
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return failure(LocalErrorCode.timeout, reachedServer: true)
            case .remoteConnectionClosed:
                return failure(LocalErrorCode.connectionReset, reachedServer: true)
            default:
                return failure(LocalErrorCode.transportError, reachedServer: true)
            }
        }
        if let connectionError = error as? NIOConnectionError {
            // No connection was made to any address: nothing was sent.
            if proxy != nil { return proxyFailure(LocalErrorCode.proxyUnreachable, "cannot connect to it") }
            if connectionError.connectionErrors.isEmpty, connectionError.dnsAError != nil || connectionError.dnsAAAAError != nil {
                return failure(LocalErrorCode.nameResolution, reachedServer: false)
            }
            let timedOut = connectionError.connectionErrors.contains { single in
                if case .connectTimeout = single.error as? ChannelError { return true }
                return (single.error as? IOError)?.errnoCode == ETIMEDOUT
            }
            return failure(timedOut ? LocalErrorCode.timeout : LocalErrorCode.connectionRefused, reachedServer: false)
        }
        if let channelError = error as? ChannelError {
            switch channelError {
            case .connectTimeout:
                if proxy != nil { return proxyFailure(LocalErrorCode.proxyUnreachable, "no connection to it in time") }
                return failure(LocalErrorCode.timeout, reachedServer: false)
            case .eof, .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed:
                return failure(LocalErrorCode.connectionReset, reachedServer: true)
            default:
                return failure(LocalErrorCode.transportError, reachedServer: true)
            }
        }
        if let ioError = error as? IOError {
            switch ioError.errnoCode {
            case ECONNREFUSED, EHOSTUNREACH, ENETUNREACH:
                if proxy != nil { return proxyFailure(LocalErrorCode.proxyUnreachable, "cannot connect to it") }
                return failure(LocalErrorCode.connectionRefused, reachedServer: false)
            case ECONNRESET, EPIPE, ECONNABORTED:
                return failure(LocalErrorCode.connectionReset, reachedServer: true)
            case ETIMEDOUT:
                return failure(LocalErrorCode.timeout, reachedServer: true)
            default:
                return failure(LocalErrorCode.transportError, reachedServer: true)
            }
        }
        if let sslError = error as? NIOSSLError {
            // A peer that vanishes mid-exchange without close_notify dropped the connection;
            // every other TLS failure is a handshake that never carried the request.
            if case .uncleanShutdown = sslError { return failure(LocalErrorCode.connectionReset, reachedServer: true) }
            return failure(LocalErrorCode.tlsError, reachedServer: false)
        }
        if error is BoringSSLError || error is NIOSSLExtraError {
            return failure(LocalErrorCode.tlsError, reachedServer: false)
        }
        if error is any NIOHTTP2Error {
            // The stream or the HTTP/2 connection was reset after the request went out.
            return failure(LocalErrorCode.connectionReset, reachedServer: true)
        }
        return failure(LocalErrorCode.transportError, reachedServer: true)
    }
}
