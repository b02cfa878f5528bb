import DingTalk

/// A request as the fake saw it.
public struct FakeRequest: Sendable {
    public var method: String
    public var path: String
    public var headers: [(String, String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.value(forHeader: name)
    }
}
