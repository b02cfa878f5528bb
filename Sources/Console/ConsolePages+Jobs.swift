import Foundation
import GrantQueue
import QueueReadModels

extension ConsolePages {
    /// The filter as query fields, in the names the list's form uses.
    static func fields(of filter: ConsoleJobFilter) -> [(String, String?)] {
        [("state", filter.state), ("code", filter.errorCode), ("id", filter.id.map(String.init)),
         ("key", filter.idempotencyKey), ("okey", filter.orderingKey), ("app", filter.app)]
    }

    static func jobsPage(_ jobs: [ConsoleJob], filter: ConsoleJobFilter, before: Int64?, pageSize: Int, context: Context) -> String {
        let stateOptions = (["any state"] + QueueStats.states).map { state in
            let value = state == "any state" ? "" : state
            return "<option value=\"\(value)\"\(filter.state == (value.isEmpty ? nil : value) ? " selected" : "")>\(state)</option>"
        }.joined()
        let input = { (name: String, label: String, value: String?, placeholder: String) in
            "<label>\(label)<input name=\"\(name)\" value=\"\(HTML.escape(value ?? ""))\" placeholder=\"\(placeholder)\"></label>"
        }
        var actions = ""
        if !context.readOnly && !filter.isEmpty {
            let query = fields(of: filter)
            actions = """
                <p class="actions">With every job this filter matches:
                <a class="button" href="/jobs/confirm\(HTML.escape(HTML.query([("action", "retry")] + query)))">Retry the failed ones…</a>
                <a class="button danger" href="/jobs/confirm\(HTML.escape(HTML.query([("action", "cancel")] + query)))">Cancel the pending ones…</a>
                </p>
                """
        }
        let rows = jobs.map { job in
            let corps = job.toCorpIDs.first.map { HTML.escape($0) + (job.toCorpIDs.count > 1 ? " <span class=\"muted\">+\(job.toCorpIDs.count - 1)</span>" : "") } ?? ""
            let error = job.lastErrorCode.map { "<code>\(HTML.escape($0))</code>" } ?? ""
            let status = job.lastHTTPStatus.map { " <span class=\"muted\">HTTP \($0)</span>" } ?? ""
            return """
                <tr><td class="num"><a href="/jobs/\(job.id)">\(job.id)</a></td>
                <td><span class="pill state-\(HTML.escape(job.state))">\(HTML.escape(job.state))</span></td>
                <td class="num">\(job.attempts)/\(job.maxAttempts)</td>
                <td class="text">\(HTML.escape(job.optUserID))</td><td class="text">\(corps)</td>
                <td>\(error)\(status)</td><td>\(HTML.time(job.updatedAt))</td></tr>
                """
        }.joined(separator: "\n")
        let table = jobs.isEmpty ? "<p class=\"muted\" id=\"no-jobs\">No job matches.</p>" : """
            <table class="jobs"><thead><tr><th class="num">id</th><th>state</th><th class="num">attempts</th><th>opt_user_id</th>
            <th>to corp</th><th>last error</th><th>updated</th></tr></thead>
            <tbody>\(rows)</tbody></table>
            """
        var pager: [String] = []
        if before != nil { pager.append("<a href=\"/jobs\(HTML.escape(HTML.query(fields(of: filter))))\">Newest</a>") }
        if jobs.count == pageSize, let last = jobs.last {
            pager.append("<a id=\"next-page\" href=\"/jobs\(HTML.escape(HTML.query(fields(of: filter) + [("before", String(last.id))])))\">Older →</a>")
        }
        return layout(title: "Jobs", section: "Jobs", context: context, body: """
            <h1>Jobs</h1>
            <form class="filter" method="get" action="/jobs">
            <label>State<select name="state">\(stateOptions)</select></label>
            \(input("code", "Error code", filter.errorCode, "e.g. system.busy"))
            \(input("id", "Job id", filter.id.map(String.init), "e.g. 4211"))
            \(input("key", "Idempotency key", filter.idempotencyKey, ""))
            \(input("okey", "Ordering key", filter.orderingKey, ""))
            \(input("app", "App", filter.app, "e.g. default"))
            <button type="submit">Filter</button> <a href="/jobs">Clear</a>
            </form>
            \(actions)
            \(table)
            <p class="pager">\(pager.joined(separator: " "))</p>
            """)
    }

    static func jobPage(_ job: ConsoleJob, attempts: [ConsoleAttempt], notice: String?, context: Context) -> String {
        let row = { (name: String, value: String) in "<tr><th>\(name)</th><td>\(value)</td></tr>" }
        let details = [
            row("state", "<span class=\"pill state-\(HTML.escape(job.state))\" id=\"job-state\">\(HTML.escape(job.state))</span>"),
            row("attempts", "\(job.attempts) of \(job.maxAttempts)"),
            row("opt_user_id", "<span class=\"text\" id=\"opt-user-id\">\(HTML.escape(job.optUserID))</span>"),
            row("to_corp_ids", job.toCorpIDs.map { HTML.escape($0) }.joined(separator: ", ")),
            row("fields", job.fields.isEmpty ? "—" : job.fields.map { HTML.escape($0) }.joined(separator: ", ")),
            row("idempotency key", HTML.escape(job.idempotencyKey)),
            row("ordering key", HTML.escape(job.orderingKey)),
            row("priority", String(job.priority)),
            row("run at", HTML.time(job.runAt)),
            row("leased by", HTML.escape(job.lockedBy)),
            row("last HTTP status", job.lastHTTPStatus.map(String.init) ?? "—"),
            row("last error", job.lastErrorCode.map { "<code>\(HTML.escape($0))</code> " } ?? "—"),
            row("last message", HTML.escape(job.lastErrorMessage)),
            row("last request id", HTML.escape(job.lastRequestID)),
            row("created", HTML.time(job.createdAt)),
            row("updated", HTML.time(job.updatedAt)),
            row("finished", HTML.time(job.finishedAt)),
        ].joined(separator: "\n")
        var buttons: [String] = []
        if !context.readOnly && job.state == "failed" {
            buttons.append("""
                <form method="post" action="/jobs/\(job.id)/retry" data-confirm="Retry job \(job.id)? 1 job goes back to pending with fresh attempts.">
                <button type="submit" id="retry-job">Retry this job</button></form>
                """)
        }
        if !context.readOnly && job.state == "pending" {
            buttons.append("""
                <form method="post" action="/jobs/\(job.id)/cancel" data-confirm="Cancel job \(job.id)? 1 pending job will not be applied.">
                <button type="submit" class="danger" id="cancel-job">Cancel this job</button></form>
                """)
        }
        let attemptRows = attempts.map { attempt in
            """
            <tr><td class="num">\(attempt.attempt)</td><td>\(HTML.time(attempt.finishedAt))</td>
            <td class="num">\(String(format: "%.0f", attempt.finishedAt.timeIntervalSince(attempt.startedAt) * 1000)) ms</td>
            <td><code>\(HTML.escape(attempt.workerID))</code></td>
            <td><span class="pill outcome-\(HTML.escape(attempt.outcome))">\(HTML.escape(attempt.outcome))</span></td>
            <td class="num">\(attempt.httpStatus.map(String.init) ?? "—")</td>
            <td>\(attempt.errorCode.map { "<code>\(HTML.escape($0))</code>" } ?? "—")</td>
            <td class="text">\(HTML.escape(attempt.errorMessage))</td><td><code>\(HTML.escape(attempt.requestID))</code></td></tr>
            """
        }.joined(separator: "\n")
        let attemptTable = attempts.isEmpty ? "<p class=\"muted\">No attempt yet.</p>" : """
            <table class="attempts" id="attempts"><thead><tr><th class="num">#</th><th>ended</th><th class="num">took</th><th>worker</th>
            <th>outcome</th><th class="num">HTTP</th><th>code</th><th>message</th><th>request id</th></tr></thead>
            <tbody>\(attemptRows)</tbody></table>
            """
        let banner = notice.map { "<p class=\"notice\" role=\"status\">\(HTML.escape($0))</p>" } ?? ""
        return layout(title: "Job \(job.id)", section: "Jobs", context: context, body: """
            <p><a href="/jobs">← Jobs</a></p>
            <div class="heading"><h1>Job \(job.id)</h1><div class="buttons">\(buttons.joined())</div></div>
            \(banner)
            <div class="panel"><table class="details">\(details)</table></div>
            <div class="panel"><h2>Attempts <span class="muted">(\(attempts.count))</span></h2>\(attemptTable)</div>
            """)
    }

    /// The bulk action's confirmation: how many jobs it would touch, and a button saying so.
    static func confirmPage(action: ConsoleAction, filter: ConsoleJobFilter, count: Int, limit: Int, context: Context) -> String {
        let labels = ["state": "state", "code": "error code", "id": "job id", "key": "idempotency key", "okey": "ordering key", "app": "app"]
        let described = fields(of: filter).compactMap { name, value in
            value.map { "\(labels[name] ?? name) <strong>\(HTML.escape($0))</strong>" }
        }.joined(separator: ", ")
        let back = "/jobs" + HTML.query(fields(of: filter))
        guard count > 0 else {
            return layout(title: "Nothing to \(action.verb)", section: "Jobs", context: context, body: """
                <h1>Nothing to \(action.verb)</h1>
                <p>No \(action.targetState) job matches \(described).</p>
                <p><a href="\(HTML.escape(back))">Back to the list</a></p>
                """)
        }
        let touched = min(count, limit)
        let over = count > limit
            ? "<p class=\"warn\">That is more than one action takes: this one \(action.pastTense) the oldest \(HTML.number(limit)); repeat for the rest.</p>" : ""
        let hidden = fields(of: filter).compactMap { name, value in
            value.map { "<input type=\"hidden\" name=\"\(name)\" value=\"\(HTML.escape($0))\">" }
        }.joined()
        return layout(title: "Confirm", section: "Jobs", context: context, body: """
            <h1>\(action.title) \(HTML.number(touched)) \(action.targetState) job\(touched == 1 ? "" : "s")?</h1>
            <p>\(action.explanation) Filter: \(described).</p>
            \(over)
            <form method="post" action="/jobs/\(action.rawValue)" class="confirm">
            \(hidden)<input type="hidden" name="expected" value="\(touched)">
            <button type="submit" id="confirm-action" class="\(action == .cancel ? "danger" : "")">\(action.title) \(HTML.number(touched)) job\(touched == 1 ? "" : "s")</button>
            <a href="\(HTML.escape(back))">No, go back</a>
            </form>
            """)
    }
}
