import NIOHTTP1

/// Which page or action a method and path name.
enum ConsoleRoute: Equatable {
    case stylesheet, script, loginForm, logIn, logOut
    case overview, overviewFragment, events
    case jobs, confirm, bulk(ConsoleAction)
    case job(String), single(String, ConsoleAction)
    case notFound

    /// Pages anyone may fetch: the login form and what it needs.
    var isPublic: Bool { [.stylesheet, .script, .loginForm, .logIn].contains(self) }

    private static let pages: [String: ConsoleRoute] = [
        "overview": .overviewFragment, "events": .events, "jobs": .jobs, "login": .loginForm,
    ]
    private static let forms: [String: ConsoleRoute] = ["login": .logIn, "logout": .logOut]

    init(method: HTTPMethod, path: String) {
        let segments = path.split(separator: "/").map(String.init)
        switch (method, segments.count) {
        case (.GET, 0): self = .overview
        case (.GET, 1): self = Self.pages[segments[0]] ?? .notFound
        case (.POST, 1): self = Self.forms[segments[0]] ?? .notFound
        case (.GET, 2) where segments == ["static", "console.css"]: self = .stylesheet
        case (.GET, 2) where segments == ["static", "console.js"]: self = .script
        case (.GET, 2) where segments[0] == "jobs": self = segments[1] == "confirm" ? .confirm : .job(segments[1])
        case (.POST, 2) where segments[0] == "jobs":
            self = ConsoleAction(rawValue: segments[1]).map(ConsoleRoute.bulk) ?? .notFound
        case (.POST, 3) where segments[0] == "jobs":
            self = ConsoleAction(rawValue: segments[2]).map { .single(segments[1], $0) } ?? .notFound
        default: self = .notFound
        }
    }
}
