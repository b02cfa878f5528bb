import Foundation
import GrantQueue
import QueueReadModels

extension ConsolePages {
    static func overviewPage(_ overview: ConsoleOverview, liveUpdates: String, context: Context) -> String {
        layout(title: "Overview", section: "Overview", context: context, body: """
            <div class="heading"><h1>Overview</h1><span id="live-status" class="muted">\(HTML.escape(liveUpdates))</span></div>
            <section id="overview" data-live="/overview">
            \(overviewFragment(overview))
            </section>
            """)
    }

    /// The part of the overview that live updates replace.
    static func overviewFragment(_ overview: ConsoleOverview) -> String {
        let stateCards = QueueStats.states.map { state in
            let count = overview.countsByState[state] ?? 0
            let estimated = overview.estimatedStates.contains(state)
            var note = ""
            if state == "pending" {
                note = overview.scheduledPending > 0 ? "\(HTML.number(overview.scheduledPending)) not due yet" : "all due"
            }
            if estimated { note = "estimate from table statistics" }
            return """
                <a class="card state-\(state)" href="/jobs?state=\(state)">
                <span class="label">\(state)</span>
                <span class="count" id="count-\(state)" data-count="\(count)"\(estimated ? " data-estimated=\"true\" title=\"too many to count on every refresh\"" : "")>\(estimated ? "≈ " : "")\(HTML.number(count))</span>
                <span class="note">\(note)</span>
                </a>
                """
        }.joined(separator: "\n")
        let oldest = overview.oldestDueAgeSeconds.map { "The oldest due job has waited <strong id=\"oldest-due\">\(HTML.age($0))</strong>." }
            ?? "<span id=\"oldest-due\">No job is waiting: every pending job is scheduled for later.</span>"
        let total = overview.minutes.reduce(into: QueueStats.Activity()) { sum, minute in
            sum.succeeded += minute.activity.succeeded
            sum.failed += minute.activity.failed
            sum.retried += minute.activity.retried
        }
        // A transaction held open for long makes every claim slower (docs/OPERATIONS.md, "A pinned horizon").
        let horizon = overview.database.oldestTransactionAgeSeconds.map {
            "The oldest transaction holding back vacuum has been open <strong id=\"oldest-transaction\">\(HTML.age($0))</strong>;"
        } ?? "<span id=\"oldest-transaction\">No transaction holding back vacuum is seen (a login without pg_read_all_stats sees only its own);</span>"
        let deadRows = "<strong id=\"dead-rows\">\(HTML.number(overview.database.jobsDeadRows))</strong> dead rows in the jobs table."
        return """
            <div class="cards">\(stateCards)</div>
            <p class="muted">\(oldest) Updated \(HTML.time(Date())).</p>
            <p class="muted">\(horizon) \(deadRows)</p>
            <div class="panel">
            <h2>Attempts per minute, last hour</h2>
            <p class="legend"><span class="key succeeded"></span>succeeded \(HTML.number(total.succeeded))
            <span class="key retried"></span>retried \(HTML.number(total.retried))
            <span class="key failed"></span>failed \(HTML.number(total.failed))</p>
            \(ActivityChart.svg(overview.minutes))
            </div>
            <div class="columns">
            \(errorCodeTable(overview.errorCodes, terminal: true))
            \(errorCodeTable(overview.errorCodes, terminal: false))
            </div>
            \(appTable(overview.apps))
            \(throttleTable(overview.throttledJobsByApp))
            \(workerTable(overview.workers))
            """
    }

    /// Each app: its backlog signals (`AppSignals`), its pause and its rate
    /// against its cap; the name opens the app's jobs.
    private static func appTable(_ apps: [GrantApp]) -> String {
        let rows = apps.map { app in
            let due = app.dueJobs.map { HTML.number($0) + (app.dueJobsAtLeast == true ? "+" : "") } ?? "-"
            let oldest = app.oldestDueJobAgeSeconds.map { HTML.age($0) } ?? "-"
            let rate = app.allowedCallsPerSecond.map { String(format: "%g/s", $0) } ?? "uncapped"
            let drain = app.secondsToDrain.map { HTML.age($0) + (app.dueJobsAtLeast == true ? "+" : "") } ?? "-"
            var state = app.stalled == true ? "<span class=\"warn\" data-stalled=\"true\">stalled</span>" : "<span class=\"ok\">moving</span>"
            if let reason = app.pauseReason {
                let since = app.pausedSince.map { " since \(HTML.time($0))" } ?? ""
                let until = app.pausedUntil.map { " until \(HTML.time($0))" } ?? ""
                let probe = app.probeBy.map { ", probe by <code>\(HTML.escape($0))</code>" } ?? ""
                state = "<span class=\"warn\">paused</span>\(since)\(until)\(probe): \(HTML.escape(reason))"
            }
            let href = "/jobs" + HTML.query([("app", app.name)])
            return "<tr data-app=\"\(HTML.escape(app.name))\"><td><a href=\"\(HTML.escape(href))\">\(HTML.escape(app.name))</a></td>"
                + "<td class=\"num\">\(due)</td><td class=\"num\">\(oldest)</td><td class=\"num\">\(rate)</td>"
                + "<td class=\"num\">\(drain)</td><td>\(state)</td></tr>"
        }.joined(separator: "\n")
        return """
            <div class="panel" id="apps"><h2>Apps <span class="muted">(due jobs counted up to 10,000 each)</span></h2>
            <table><thead><tr><th>app</th><th class="num">due jobs</th><th class="num">oldest due</th>
            <th class="num">allowed calls</th><th class="num">to drain</th><th>calls</th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            """
    }

    /// Jobs a throttle sent back (no attempt used): many here, with calls going out,
    /// is DingTalk's limits holding the fleet back, not a stall.
    private static func throttleTable(_ counts: [String: Int]?) -> String {
        let title = "Waiting on throttles <span class=\"muted\">(pending jobs whose last answer was a throttle)</span>"
        guard let counts else {
            return "<div class=\"panel\" id=\"throttled\"><h2>\(title)</h2><p class=\"muted\">Not counted: too many pending jobs to count on every refresh.</p></div>"
        }
        guard !counts.isEmpty else {
            return "<div class=\"panel\" id=\"throttled\"><h2>\(title)</h2><p class=\"muted\">None.</p></div>"
        }
        let rows = counts.sorted { $0.key < $1.key }.map { app, count in
            "<tr><td>\(HTML.escape(app))</td><td class=\"num\" data-app=\"\(HTML.escape(app))\">\(HTML.number(count))</td></tr>"
        }.joined(separator: "\n")
        return """
            <div class="panel" id="throttled"><h2>\(title)</h2>
            <table><thead><tr><th>app</th><th class="num">jobs</th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            """
    }

    private static func errorCodeTable(_ codes: [QueueStats.ErrorCodeCount], terminal: Bool) -> String {
        let entries = codes.filter { $0.terminal == terminal }
        let title = terminal ? "Terminal errors <span class=\"muted\">(jobs failed)</span>"
            : "Retrying errors <span class=\"muted\">(jobs waiting for another try)</span>"
        guard !entries.isEmpty else {
            return "<div class=\"panel\"><h2>\(title)</h2><p class=\"muted\">None.</p></div>"
        }
        let rows = entries.map { entry in
            let href = "/jobs" + HTML.query([("state", entry.state), ("code", entry.code)])
            return "<tr><td><a href=\"\(HTML.escape(href))\"><code>\(HTML.escape(entry.code))</code></a></td>"
                + "<td>\(HTML.escape(entry.state))</td><td class=\"num\">\(HTML.number(entry.count))</td></tr>"
        }.joined(separator: "\n")
        return """
            <div class="panel"><h2>\(title)</h2>
            <table><thead><tr><th>code</th><th>state</th><th class="num">jobs</th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            """
    }

    private static func workerTable(_ workers: [QueueStats.Worker]) -> String {
        guard !workers.isEmpty else {
            return "<div class=\"panel\"><h2>Live workers</h2><p class=\"muted\">No worker has sent a heartbeat in the last minute.</p></div>"
        }
        let rows = workers.map { worker in
            var pause = "<span class=\"ok\">calling</span>"
            if let reason = worker.pauseReason {
                let since = worker.pausedSince.map { " since \(HTML.time($0))" } ?? ""
                let until = worker.pausedUntil.map { " until \(HTML.time($0))" } ?? ""
                pause = "<span class=\"warn\">paused</span>\(since)\(until): \(HTML.escape(reason))"
            }
            return "<tr><td><code>\(HTML.escape(worker.id))</code></td><td>\(HTML.escape(worker.host))</td>"
                + "<td class=\"num\">\(worker.pid)</td><td class=\"num\">\(worker.inFlight)</td>"
                + "<td class=\"num\">\(HTML.age(worker.heartbeatAgeSeconds)) ago</td><td>\(pause)</td></tr>"
        }.joined(separator: "\n")
        return """
            <div class="panel"><h2>Live workers <span class="muted">(\(workers.count))</span></h2>
            <table class="workers"><thead><tr><th>worker</th><th>host</th><th class="num">pid</th><th class="num">calls in flight</th>
            <th class="num">heartbeat</th><th>calls</th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            """
    }
}
