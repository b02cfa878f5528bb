import ArgumentParser
import DingTalk
import Foundation
import GrantQueue
import QueueReadModels

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the queue: jobs by state, recent activity, error codes, live workers, pauses.",
        discussion: """
            Error codes are shown apart: terminal (the job failed) and retrying (the
            job waits for another try). Activity counts attempts that ended in the
            last minute and hour, from the audit trail.

            Examples:
              visibility-worker status
              visibility-worker status --watch --interval 5s
              visibility-worker status --json | jq '.countsByState.failed'
            """
    )

    @OptionGroup var common: CommonOptions

    @Flag(help: "Print JSON for scripts instead of a table (one object per refresh with --watch).")
    var json = false

    @Flag(help: "Refresh until interrupted.")
    var watch = false

    @Option(help: "Time between refreshes with --watch.")
    var interval = "2s"

    func run() throws {
        let logger = try common.makeLogger()
        guard let pause = Settings.duration(interval), pause >= .milliseconds(100) else {
            throw ValidationError("--interval: expected a duration of at least 100ms, like 2s")
        }
        let queue = GrantQueue(connection: try common.connect(logger: logger))
        guard watch else {
            print(try render(queue.stats(throttleCodes: DingTalkErrorCode.throttleCodes)))
            return
        }
        let clearScreen = isatty(STDOUT_FILENO) == 1 && !json
        while true {
            let text: String
            do {
                text = try render(queue.stats(throttleCodes: DingTalkErrorCode.throttleCodes))
            } catch {
                // A database blip must not end the watch: say so, and try again next round
                // (the connection re-establishes itself before its next statement).
                // Still one JSON object per line with --json.
                text = json ? JSONOutput.text(["error": "database unavailable: \(error)"]) : "database unavailable: \(error)"
            }
            let screen = clearScreen ? "\u{1B}[H\u{1B}[2J" + Self.timestamp() + "\n" + text : text
            FileHandle.standardOutput.write(Data((screen + "\n").utf8))
            Thread.sleep(forTimeInterval: pause.seconds)
        }
    }

    private func render(_ stats: QueueStats) -> String {
        json ? JSONOutput.text(stats, pretty: !watch) : Self.render(stats)
    }

    static func timestamp() -> String {
        ISO8601DateFormatter().string(from: Date())
    }

    static func render(_ stats: QueueStats) -> String {
        var lines: [String] = ["STATE       JOBS"]
        for state in QueueStats.states {
            let estimated = stats.estimatedStates.contains(state)
            var line = state.padding(toLength: 12, withPad: " ", startingAt: 0) + (estimated ? "≈ " : "")
                + String(stats.countsByState[state] ?? 0) + (estimated ? " (estimate: too many to count on every call)" : "")
            if state == "pending", stats.scheduledPending > 0 {
                line += "  (\(stats.scheduledPending)\(stats.scheduledPendingAtLeast ? "+" : "") not due yet)"
            }
            lines.append(line)
        }
        if let age = stats.oldestPendingAgeSeconds {
            lines.append("oldest due job waiting: \(String(format: "%.1f", age)) s")
        }
        // Rows no worker leaves behind (docs/OPERATIONS.md, "Rows no worker can explain").
        lines.append("rows no worker can explain: \(stats.unexplainedRows.total)")
        for (what, count) in stats.unexplainedRows.described where count > 0 {
            lines.append("  " + what.padding(toLength: 50, withPad: " ", startingAt: 0) + String(count))
        }
        // What makes every claim slower while it lasts (docs/OPERATIONS.md, "A pinned horizon").
        let oldest = stats.database.oldestTransactionAgeSeconds.map { String(format: "open %.0f s", $0) } ?? "none seen"
        lines.append("oldest transaction holding back vacuum: \(oldest); dead rows in the jobs table: \(stats.database.jobsDeadRows)")
        lines.append("")
        lines.append("ATTEMPTS ENDED   SUCCEEDED  FAILED  RETRIED")
        for (title, activity) in [("last minute", stats.lastMinute), ("last hour", stats.lastHour)] {
            lines.append(title.padding(toLength: 17, withPad: " ", startingAt: 0)
                + String(activity.succeeded).padding(toLength: 11, withPad: " ", startingAt: 0)
                + String(activity.failed).padding(toLength: 8, withPad: " ", startingAt: 0)
                + String(activity.retried))
        }
        for (title, terminal) in [("TERMINAL ERRORS (jobs failed)", true), ("RETRYING ERRORS (jobs waiting for another try)", false)] {
            let entries = stats.errorCodes.filter { $0.terminal == terminal }
            guard !entries.isEmpty else { continue }
            lines.append("")
            lines.append(title.padding(toLength: 52, withPad: " ", startingAt: 0) + "STATE     JOBS")
            for entry in entries {
                lines.append(entry.code.padding(toLength: 52, withPad: " ", startingAt: 0)
                    + entry.state.padding(toLength: 10, withPad: " ", startingAt: 0) + String(entry.count))
            }
        }
        lines.append("")
        if stats.workers.isEmpty {
            lines.append("no live workers")
        } else {
            lines.append("WORKER                                    HOST                  PID      IN FLIGHT  HEARTBEAT  VERSION")
            for worker in stats.workers {
                lines.append(worker.id.padding(toLength: 42, withPad: " ", startingAt: 0)
                    + worker.host.padding(toLength: 22, withPad: " ", startingAt: 0)
                    + String(worker.pid).padding(toLength: 9, withPad: " ", startingAt: 0)
                    + String(worker.inFlight).padding(toLength: 11, withPad: " ", startingAt: 0)
                    + String(format: "%.0f s ago", worker.heartbeatAgeSeconds).padding(toLength: 11, withPad: " ", startingAt: 0)
                    + (worker.version ?? "-"))
            }
            let formatter = ISO8601DateFormatter()
            for worker in stats.workers {
                if let reason = worker.pauseReason, let until = worker.pausedUntil {
                    let since = worker.pausedSince.map { " since \(formatter.string(from: $0))," } ?? ""
                    lines.append("PAUSED \(worker.id)\(since) until \(formatter.string(from: until)): \(reason)")
                }
                if !worker.appsWithoutSecret.isEmpty {
                    lines.append("NO SECRET \(worker.id) for app(s): \(worker.appsWithoutSecret.joined(separator: ", ")) (their jobs are left to other workers)")
                }
            }
        }
        lines.append("")
        lines.append(renderSignals(stats.apps))
        if !stats.throttledJobsByApp.isEmpty {
            // A throttle uses no attempt: these jobs wait on DingTalk's limits, not on a stalled worker.
            lines.append("")
            lines.append("WAITING ON THROTTLES (pending, last answer a throttle)   JOBS")
            for (app, count) in stats.throttledJobsByApp.sorted(by: { $0.key < $1.key }) {
                lines.append(app.padding(toLength: 57, withPad: " ", startingAt: 0) + String(count))
            }
        }
        if stats.apps.count > 1 || stats.apps.contains(where: \.isPaused) {
            lines.append("")
            lines.append(AppsCommand.List.render(stats.apps))
        }
        return lines.joined(separator: "\n")
    }

    /// Each app's backlog signals (docs/OPERATIONS.md, "Autoscaling").
    static func renderSignals(_ apps: [GrantApp]) -> String {
        var lines = ["APP                   DUE JOBS   OLDEST DUE  ALLOWED CALLS/S  SECONDS TO DRAIN  STALLED"]
        for app in apps {
            let due = app.dueJobs.map { "\($0)\(app.dueJobsAtLeast == true ? "+" : "")" } ?? "-"
            let oldest = app.oldestDueJobAgeSeconds.map { String(format: "%.1f s", $0) } ?? "-"
            let allowed = app.allowedCallsPerSecond.map { String(format: "%g", $0) } ?? "uncapped"
            let drain = app.secondsToDrain.map { String(format: "%.0f", $0) + (app.dueJobsAtLeast == true ? "+" : "") } ?? "-"
            lines.append(app.name.padding(toLength: 22, withPad: " ", startingAt: 0)
                + due.padding(toLength: 11, withPad: " ", startingAt: 0)
                + oldest.padding(toLength: 12, withPad: " ", startingAt: 0)
                + allowed.padding(toLength: 17, withPad: " ", startingAt: 0)
                + drain.padding(toLength: 18, withPad: " ", startingAt: 0)
                + (app.stalled == true ? "YES: no outcome for \(app.secondsSinceLastOutcome.map { String(format: "%.0f s", $0) } ?? "as long as any live worker knows")" : "no"))
        }
        return lines.joined(separator: "\n")
    }
}
