import Foundation
import Synchronization

/// The login: a token presented once at /login buys a random session id, kept in
/// this process's memory and sent back as an HttpOnly, SameSite=Strict cookie.
/// The token itself never goes into a cookie or a page.
final class ConsoleSessions: Sendable {
    static let cookieName = "visibility_console_session"
    static let lifetime: Duration = .seconds(12 * 3600)

    private let token: [UInt8]?
    private let sessions = Mutex<[String: ContinuousClock.Instant]>([:])

    init(token: String?) {
        self.token = token.map { Array($0.utf8) }
    }

    /// False when the console runs without a token (loopback only): no login asked.
    var loginRequired: Bool { token != nil }

    /// A new session id when `presented` is the token; nil otherwise.
    func logIn(presented: String) -> String? {
        guard let token, Self.constantTimeEqual(Array(presented.utf8), token) else { return nil }
        var generator = SystemRandomNumberGenerator()
        let id = (0..<4).map { _ in String(format: "%016llx", generator.next() as UInt64) }.joined()
        let now = ContinuousClock.now
        sessions.withLock { sessions in
            sessions = sessions.filter { $0.value > now }
            sessions[id] = now + Self.lifetime
        }
        return id
    }

    func isValid(_ id: String?) -> Bool {
        guard loginRequired else { return true }
        guard let id else { return false }
        return sessions.withLock { ($0[id] ?? .now) > .now }
    }

    func logOut(_ id: String?) {
        guard let id else { return }
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }

    func cookie(for id: String) -> String {
        "\(Self.cookieName)=\(id); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(Int(Self.lifetime.components.seconds))"
    }

    static let expiredCookie = "\(cookieName)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"

    /// Compares every byte whatever the first difference, so timing tells nothing of the token.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}
