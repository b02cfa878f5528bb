/// An `apps` command refused: a clear reason, no data beyond the app's name.
public struct GrantAppError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
