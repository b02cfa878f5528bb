import DingTalk
import Foundation

/// Answers made under the lock: each counts its code and draws its request id
/// from the seeded generator, in the same order as every other draw.
extension FakeDingTalkState.Inner {
    mutating func newRequestID() -> String {
        String(format: "%08llX-%04llX-%012llX", random.next() & 0xFFFF_FFFF, random.next() & 0xFFFF, random.next() & 0xFFFF_FFFF_FFFF)
    }

    mutating func count(_ code: String) {
        codes[code, default: 0] += 1
    }

    mutating func error(_ code: DingTalkErrorCode, message: String? = nil, requestID: String? = nil, delay: Duration = .zero) -> FakeAnswer {
        error(status: code.httpStatus, code: code.code, message: message ?? code.message, requestID: requestID, delay: delay)
    }

    mutating func error(status: Int, code: String, message: String, requestID: String? = nil, delay: Duration = .zero) -> FakeAnswer {
        count(code)
        return .error(status: status, code: code, message: message, requestID: requestID ?? newRequestID(), delay: delay)
    }

    mutating func json(_ status: Int, _ body: String) -> FakeAnswer {
        .json(status: status, body: body, requestID: newRequestID())
    }

    /// Somebody else's answer (`FakePage`); counted under its kind.
    mutating func page(_ kind: FakePage.Kind, status: Int?, requestID: String, delay: Duration) -> FakeAnswer {
        count(kind.rawValue)
        return .page(FakePage(kind: kind, status: status ?? kind.defaultStatus, uuid: requestID), requestID: requestID, delay: delay)
    }

    mutating func answer(for fault: FaultDice.Fault, requestID: String, delay: Duration) -> FakeAnswer {
        switch fault {
        case .systemBusy: return error(.systemBusy, requestID: requestID, delay: delay)
        case .timeout: count("timeout"); return .hang
        case .reset: count("reset"); return .reset
        case .html: return page(.html, status: nil, requestID: requestID, delay: delay)
        }
    }
}
