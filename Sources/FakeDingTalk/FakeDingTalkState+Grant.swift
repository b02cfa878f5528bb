import DingTalk
import Foundation

/// `PUT …/visibleInOtherOrg`: the one decision per call, in the order the real API
/// applies its rules.
extension FakeDingTalkState {
    /// Checks the body now; the returned closure decides under the lock.
    func grantDecision(_ request: FakeRequest) -> (inout Inner) -> FakeAnswer {
        let token = request.header(DingTalkAPI.accessTokenHeader)
        let body = GrantBodyCheck.check(request.body)
        return { state in self.decideGrant(token: token, body: body, in: &state) }
    }

    private func decideGrant(token: String?, body: Result<VisibilityGrant, GrantBodyCheck.Refusal>, in state: inout Inner) -> FakeAnswer {
        // Read under the lock, so the QPS window sees its calls in the order of their times.
        let now = options.now()
        let wallClock = options.recordTimeline ? Date().timeIntervalSince1970 : 0
        state.calls += 1
        if options.recordTimeline { state.callTimes.append(wallClock) }
        guard let token, !token.isEmpty else { return state.error(.missingAccessToken) }
        guard let appKey = Self.appKey(forToken: token, in: state, options: options, now: now) else {
            return state.error(.invalidAuthentication)
        }
        let answer = decideGrant(appKey: appKey, body: body, now: now, wallClock: wallClock, in: &state)
        state.apps[appKey, default: AppStats()].count(answer)
        return answer
    }

    private func decideGrant(appKey: String, body: Result<VisibilityGrant, GrantBodyCheck.Refusal>, now: ContinuousClock.Instant,
                             wallClock: Double, in state: inout Inner) -> FakeAnswer {
        let latency = options.latency
        if !state.scripted.isEmpty {
            return state.answer(state.scripted.removeFirst(), delay: latency)
        }
        if let code = options.appFaults[appKey] {
            let known = DingTalkErrorCode.byCode[code]
            return state.error(status: known?.httpStatus ?? 403, code: code, message: known?.message ?? code, delay: latency)
        }
        // Parameters are checked before throttling and faults, so a bad job is refused
        // on its first attempt whatever else is going on (tests rely on that).
        let grant: VisibilityGrant
        switch body {
        case .success(let valid): grant = valid
        case .failure(let refusal): return state.error(refusal.code, message: refusal.message, delay: latency)
        }
        if let forced = state.forcedError {
            return state.error(forced, delay: latency)
        }
        if options.qps > 0, !state.qpsWindow.admit(appKey: appKey, now: now, limit: options.qps) {
            return state.error(.qpsLimitForAppKeyAndAPI)
        }
        if let fault = faultDice.roll(&state.random) {
            return state.answer(for: fault, requestID: state.newRequestID(), delay: latency)
        }
        state.applied.append(grant)
        if options.recordTimeline { state.appliedTimes.append(wallClock) }
        return .success(requestID: state.newRequestID(), delay: latency)
    }
}
