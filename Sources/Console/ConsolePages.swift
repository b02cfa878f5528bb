/// The console's HTML, rendered on the server. Every page shares `layout`; the
/// page-specific parts live in `ConsolePages+*.swift`. Values from the database
/// are escaped where they are interpolated (`HTML.escape`), never trusted.
enum ConsolePages {
    struct Context: Sendable {
        var readOnly: Bool
        /// Whether a logout button makes sense (a token is configured).
        var loginRequired: Bool
    }

    static func layout(title: String, section: String, context: Context, body: String) -> String {
        let link = { (href: String, name: String) in
            "<a href=\"\(href)\"\(section == name ? " class=\"current\" aria-current=\"page\"" : "")>\(name)</a>"
        }
        let mode = context.readOnly ? "<span class=\"badge\" title=\"started with --read-only\">read-only</span>" : ""
        let logout = context.loginRequired
            ? "<form method=\"post\" action=\"/logout\" class=\"inline\"><button class=\"link\">Log out</button></form>" : ""
        return """
            \(documentHead(title: title, script: true))
            <body>
            <header class="top">
            <span class="brand">visibility-worker</span>
            <nav>\(link("/", "Overview"))\(link("/jobs", "Jobs"))</nav>
            <span class="spacer"></span>\(mode)\(logout)
            </header>
            <main>
            \(body)
            </main>
            </body>
            </html>
            """
    }

    /// Everything up to `<body>`: the style sheet, and the script where the page uses it.
    private static func documentHead(title: String, script: Bool) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(HTML.escape(title)) · visibility-worker console</title>
        <link rel="stylesheet" href="/static/console.css">\(script ? "\n<script src=\"/static/console.js\" defer></script>" : "")
        </head>
        """
    }

    static func login(failed: Bool) -> String {
        let message = failed ? "<p class=\"error\" role=\"alert\">That token is not right.</p>" : ""
        return """
            \(documentHead(title: "Log in", script: false))
            <body class="login">
            <main>
            <h1>visibility-worker console</h1>
            <p>Enter the console token (the value of <code>VISIBILITY_CONSOLE_TOKEN</code> where the console runs).</p>
            \(message)
            <form method="post" action="/login">
            <label for="token">Token</label>
            <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
            <button type="submit">Log in</button>
            </form>
            </main>
            </body>
            </html>
            """
    }

    static func message(title: String, text: String, context: Context, links: [(String, String)] = [("/", "Back to the overview")]) -> String {
        let anchors = links.map { "<a href=\"\(HTML.escape($0.0))\">\(HTML.escape($0.1))</a>" }.joined(separator: " · ")
        return layout(title: title, section: "", context: context, body: """
            <h1>\(HTML.escape(title))</h1>
            <p>\(HTML.escape(text))</p>
            <p>\(anchors)</p>
            """)
    }
}
