import DingTalk
import Foundation

/// `POST /v1.0/oauth2/accessToken`, and which app a grant call's token belongs to.
extension FakeDingTalkState {
    private struct Credentials: Decodable {
        let appKey: String
        let appSecret: String
    }

    /// Parses the body now; the returned closure decides under the lock.
    func tokenDecision(_ request: FakeRequest) -> (inout Inner) -> FakeAnswer {
        let credentials = try? JSONDecoder().decode(Credentials.self, from: Data(request.body))
        let known = credentials.map { $0.appSecret == ($0.appKey == options.appKey ? options.appSecret : options.apps[$0.appKey]) }
        return { [options] state in
            state.tokenRequests += 1
            if !state.scriptedTokens.isEmpty {
                return state.answer(state.scriptedTokens.removeFirst(), delay: .zero)
            }
            guard let credentials else { return state.error(.invalidParameter) }
            guard known == true else { return state.error(.invalidClientIdOrSecret) }
            let now = options.now()
            let ttl = options.tokenTTL
            let token: String
            // The same token comes back while it is valid, and its lifetime starts over.
            if let existing = state.tokenByApp[credentials.appKey], let valid = state.tokens[existing], valid.expiresAt > now {
                state.tokens[existing]?.expiresAt = now + ttl
                token = existing
            } else {
                token = String(format: "%016llx%016llx", state.random.next(), state.random.next())
                state.tokens[token] = Token(appKey: credentials.appKey, expiresAt: now + ttl)
                state.tokenByApp[credentials.appKey] = token
            }
            return state.json(200, #"{"accessToken":"\#(token)","expireIn":\#(Int(ttl.components.seconds))}"#)
        }
    }

    /// The app a grant call's token was issued to, or nil when it is unknown or expired.
    static func appKey(forToken token: String, in state: Inner, options: FakeDingTalkOptions, now: ContinuousClock.Instant) -> String? {
        if options.staticTokens.contains(token) { return options.appKey }
        guard let known = state.tokens[token], known.expiresAt > now else { return nil }
        return known.appKey
    }
}
