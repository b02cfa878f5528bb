import NIOHTTP1

/// A whole response: status, headers and body.
struct ConsoleResponse: Sendable {
    var status: HTTPResponseStatus
    var headers: [(String, String)]
    var body: [UInt8]

    /// On every response. The policy allows only this server's own script and
    /// style sheet: no inline script, no inline style, no framing, forms post here only.
    static let securityHeaders: [(String, String)] = [
        ("Content-Security-Policy",
         "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        // Not no-referrer: with that, browsers send `Origin: null` on a POST, and the origin check needs the real one.
        ("Referrer-Policy", "same-origin"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
    ]

    static func html(_ text: String, status: HTTPResponseStatus = .ok, headers: [(String, String)] = []) -> ConsoleResponse {
        ConsoleResponse(status: status,
                        headers: [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")] + headers,
                        body: Array(text.utf8))
    }

    static func text(_ text: String, status: HTTPResponseStatus) -> ConsoleResponse {
        ConsoleResponse(status: status, headers: [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")],
                        body: Array((text + "\n").utf8))
    }

    /// 303: the browser follows with a GET (after a form POST, too).
    static func redirect(to location: String, headers: [(String, String)] = []) -> ConsoleResponse {
        ConsoleResponse(status: .seeOther, headers: [("Location", location), ("Cache-Control", "no-store")] + headers, body: [])
    }

    static func asset(_ text: String, contentType: String) -> ConsoleResponse {
        ConsoleResponse(status: .ok, headers: [("Content-Type", contentType), ("Cache-Control", "no-cache")], body: Array(text.utf8))
    }
}
