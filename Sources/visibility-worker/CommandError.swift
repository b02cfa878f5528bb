/// A plain error for the user: printed as `Error: <message>`, without the usage text
/// that ArgumentParser adds to a `ValidationError`.
struct CommandError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
