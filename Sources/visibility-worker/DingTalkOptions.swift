import ArgumentParser
import DingTalk
import Foundation
import Logging

/// Where the DingTalk API is and how to authenticate. Secrets come from the
/// environment or a file only, never from flags (which `ps` would show).
struct DingTalkOptions: ParsableArguments {
    @Option(help: "API base URL. (env: DINGTALK_BASE_URL; default: https://api.dingtalk.com)")
    var baseURL: String?

    @Option(help: "The internal app's key. (env: DINGTALK_APP_KEY; the secret comes from DINGTALK_APP_SECRET or DINGTALK_APP_SECRET_FILE)")
    var appKey: String?

    @Option(help: "Whole-request timeout for API calls. (env: DINGTALK_REQUEST_TIMEOUT)")
    var requestTimeout: String?

    @Flag(help: "Do not verify the API's TLS certificate. Only for a test proxy; logged as a warning.")
    var insecureSkipTLSVerify = false

    @Option(help: "HTTP proxy for every API call, e.g. http://proxy.corp:3128; wins over HTTPS_PROXY, HTTP_PROXY and NO_PROXY. Credentials are refused here (argv is visible to every user): put the URL with them in DINGTALK_PROXY. (env: DINGTALK_PROXY)")
    var proxy: String?

    @Option(help: "PEM file of CA certificates trusted besides the system roots (SSL_CERT_FILE replaces those). (env: DINGTALK_CA_FILE)")
    var caFile: String?

    @Option(help: "auto: HTTP/2 when the server offers it over TLS, else HTTP/1.1; 1.1: always HTTP/1.1. (env: DINGTALK_HTTP_VERSION; default: auto)")
    var httpVersion: String?

    func validate() throws {
        try SecretsInArguments.checkProxy(proxy)
    }

    /// `--app-key`, else `DINGTALK_APP_KEY`.
    var resolvedAppKey: String? { Settings.string(appKey, env: "DINGTALK_APP_KEY") }

    /// Builds the client; `connections` sizes the keep-alive pool.
    func makeClient(connections: Int, logger: Logger) throws -> (DingTalkClient, any HTTPTransport) {
        let access = try makeAPIAccess(connections: connections, logger: logger, credentialsRequired: true)
        guard let provider = access.tokenProvider else { throw ValidationError("no DingTalk credentials") }
        return (DingTalkClient(baseURL: access.baseURL, tokenProvider: provider, transport: access.transport), access.transport)
    }

    /// The API's URL, the transport and, when the environment names an app, its tokens
    /// (optional without `credentialsRequired`: apps may come from DINGTALK_APP_SECRETS_DIR).
    func makeAPIAccess(connections: Int, logger: Logger, credentialsRequired: Bool) throws
        -> (baseURL: String, transport: any HTTPTransport, tokenProvider: (any AccessTokenProvider)?)
    {
        let environment = Settings.environment
        let base = Settings.string(baseURL, env: "DINGTALK_BASE_URL") ?? DingTalkAPI.defaultBaseURL
        guard let url = URL(string: base), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw ValidationError("--base-url / DINGTALK_BASE_URL: '\(base)' is not an http(s) URL")
        }
        var transportOptions = AsyncHTTPClientTransport.Options()
        transportOptions.maxConnectionsPerHost = connections
        if let timeout = try Settings.value(requestTimeout, flagName: "--request-timeout", env: "DINGTALK_REQUEST_TIMEOUT",
                                            parse: Settings.duration) {
            guard timeout > .zero else { throw ValidationError("--request-timeout must be above 0") }
            transportOptions.requestTimeout = timeout
        }
        do {
            transportOptions.egress = try EgressConfiguration.resolve(
                baseURL: base, proxyOverride: Settings.string(proxy, env: "DINGTALK_PROXY"),
                caFile: Settings.string(caFile, env: "DINGTALK_CA_FILE"), verifyCertificates: !insecureSkipTLSVerify,
                environment: environment)
        } catch {
            throw ValidationError(error.description)
        }
        switch Settings.string(httpVersion, env: "DINGTALK_HTTP_VERSION") ?? "auto" {
        case "auto": transportOptions.allowHTTP2 = true
        case "1.1": transportOptions.allowHTTP2 = false
        case let other: throw ValidationError("--http-version / DINGTALK_HTTP_VERSION: '\(other)' is neither auto nor 1.1")
        }
        // Said at info only when set up on purpose (a proxy, an extra CA), so the default start stays quiet.
        let egress = transportOptions.egress
        logger.log(level: egress.proxy != nil || !egress.additionalCertificateFiles.isEmpty ? .info : .debug,
                   "DingTalk egress: \(egress.summary)")
        if insecureSkipTLSVerify {
            logger.warning("TLS certificate verification is OFF (--insecure-skip-tls-verify): anyone on the path can read the app secret and tokens")
        }
        if scheme == "http", url.host != "127.0.0.1", url.host != "localhost", url.host != "::1" {
            logger.warning("DingTalk base URL is plain http: tokens travel unencrypted", metadata: ["host": "\(url.host ?? "")"])
        }

        // Every setting is checked before the HTTP client exists: it must be shut down once created.
        enum Authentication {
            case staticToken(String)
            case app(key: String, secret: String)
        }
        let authentication: Authentication?
        if let token = Settings.string(nil, env: "DINGTALK_ACCESS_TOKEN") {
            authentication = .staticToken(token)
        } else if let key = resolvedAppKey {
            authentication = .app(key: key, secret: try Self.appSecret())
        } else if credentialsRequired {
            throw ValidationError("set DINGTALK_APP_KEY (or --app-key) and DINGTALK_APP_SECRET, or DINGTALK_ACCESS_TOKEN")
        } else {
            authentication = nil
        }
        let transport: AsyncHTTPClientTransport
        do {
            transport = try AsyncHTTPClientTransport(options: transportOptions)
        } catch {
            throw ValidationError(error.description)
        }
        let tokenProvider: (any AccessTokenProvider)? = switch authentication {
        case .staticToken(let token): StaticAccessTokenProvider(token: token)
        case .app(let key, let secret): AppAccessTokenProvider(appKey: key, appSecret: secret, baseURL: base, transport: transport)
        case nil: nil
        }
        return (base, transport, tokenProvider)
    }

    static func appSecret() throws -> String {
        let environment = Settings.environment
        if let secret = environment["DINGTALK_APP_SECRET"], !secret.isEmpty { return secret }
        if let path = environment["DINGTALK_APP_SECRET_FILE"], !path.isEmpty {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("DINGTALK_APP_SECRET_FILE: cannot read \(path)")
            }
            let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !secret.isEmpty else { throw ValidationError("DINGTALK_APP_SECRET_FILE: \(path) is empty") }
            return secret
        }
        throw ValidationError("set DINGTALK_APP_SECRET or DINGTALK_APP_SECRET_FILE (the secret is never taken from a flag)")
    }
}
