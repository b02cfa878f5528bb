import Foundation
import NIOSSL

/// How API calls leave this host: through which proxy, if any, and trusting which
/// certificate authorities. Read once at startup (docs/DESIGN.md, "Egress").
public struct EgressConfiguration: Sendable, Equatable {
    /// `nil`: calls connect to the API directly.
    public var proxy: ProxySettings?
    /// PEM bundle that replaces the system's trusted roots (`SSL_CERT_FILE`).
    public var rootCertificatesFile: String?
    /// PEM files whose certificates are trusted besides the roots (`--ca-file`).
    public var additionalCertificateFiles: [String] = []
    /// Off only with `--insecure-skip-tls-verify`.
    public var verifyCertificates = true

    public init(proxy: ProxySettings? = nil, rootCertificatesFile: String? = nil, additionalCertificateFiles: [String] = [],
                verifyCertificates: Bool = true) {
        self.proxy = proxy
        self.rootCertificatesFile = rootCertificatesFile
        self.additionalCertificateFiles = additionalCertificateFiles
        self.verifyCertificates = verifyCertificates
    }

    /// The settings for calls to `baseURL`, as curl would choose them:
    /// - `proxyOverride` (`--proxy` / `DINGTALK_PROXY`) wins over everything, `NO_PROXY` included;
    /// - else `https_proxy`/`HTTPS_PROXY` for an https URL, `http_proxy`/`HTTP_PROXY` for an http one,
    ///   then `all_proxy`/`ALL_PROXY`, unless the host is in `no_proxy`/`NO_PROXY`;
    /// - `SSL_CERT_FILE` replaces the system roots, `caFile` (`--ca-file` / `DINGTALK_CA_FILE`) adds to them.
    /// Lower-case variables are read first, as curl does.
    public static func resolve(baseURL: String, proxyOverride: String? = nil, caFile: String? = nil, verifyCertificates: Bool = true,
                               environment: [String: String]) throws(EgressConfigurationError) -> EgressConfiguration {
        guard let url = URL(string: baseURL), let scheme = url.scheme?.lowercased(), let host = url.host else {
            throw EgressConfigurationError("'\(baseURL)' is not an http(s) URL")
        }
        func variable(_ name: String) -> (name: String, value: String)? {
            for candidate in [name.lowercased(), name.uppercased()] {
                if let value = environment[candidate]?.trimmingCharacters(in: .whitespaces), !value.isEmpty { return (candidate, value) }
            }
            return nil
        }
        var configuration = EgressConfiguration(verifyCertificates: verifyCertificates)
        if let proxyOverride, !proxyOverride.isEmpty {
            configuration.proxy = try ProxySettings(url: proxyOverride, source: "--proxy / DINGTALK_PROXY")
        } else if let (name, value) = variable(scheme == "https" ? "https_proxy" : "http_proxy") ?? variable("all_proxy") {
            let bypass = variable("no_proxy").map { NoProxyList($0.value) }
            if bypass?.matches(host: host) != true {
                configuration.proxy = try ProxySettings(url: value, source: name)
            }
        }
        if let file = variable("SSL_CERT_FILE")?.value {
            try Self.checkCertificates(file, source: "SSL_CERT_FILE")
            configuration.rootCertificatesFile = file
        }
        if let caFile, !caFile.isEmpty {
            try Self.checkCertificates(caFile, source: "--ca-file / DINGTALK_CA_FILE")
            configuration.additionalCertificateFiles = [caFile]
        }
        return configuration
    }

    /// Certificates must load at startup, with a message naming the setting, not at the first call.
    static func checkCertificates(_ path: String, source: String) throws(EgressConfigurationError) {
        _ = try loadCertificates(path, source: source)
    }

    static func loadCertificates(_ path: String, source: String) throws(EgressConfigurationError) -> [NIOSSLCertificate] {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw EgressConfigurationError("\(source): cannot read \(path)")
        }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw EgressConfigurationError("\(source): \(path) is not a PEM certificate file (\(error))")
        }
        guard !certificates.isEmpty else { throw EgressConfigurationError("\(source): \(path) holds no PEM certificate") }
        return certificates
    }

    /// What the startup log says about the road (never a password).
    public var summary: String {
        var parts = [proxy.map { "proxy \($0)\($0.hasCredentials ? " (with credentials)" : "") from \($0.source)" } ?? "direct (no proxy)"]
        if let rootCertificatesFile { parts.append("roots from \(rootCertificatesFile) (SSL_CERT_FILE)") }
        for file in additionalCertificateFiles { parts.append("also trusting \(file)") }
        if !verifyCertificates { parts.append("certificate verification OFF") }
        return parts.joined(separator: ", ")
    }
}
