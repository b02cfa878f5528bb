/// What to do with a request.
public enum FakeReply: Sendable {
    case respond(status: Int, headers: [(String, String)], body: [UInt8], delay: Duration)
    /// Close the connection without answering.
    case reset
    /// Never answer; the client's timeout decides.
    case hang
}
