import ArgumentParser
import Foundation
import GrantQueue

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the queue: jobs by state, the oldest due job, error codes, live workers.",
        discussion: """
            Examples:
              visibility-worker status
              visibility-worker status --json | jq '.countsByState.failed'
            """
    )

    @OptionGroup var common: CommonOptions

    @Flag(help: "Print JSON for scripts instead of a table.")
    var json = false

    func run() throws {
        let logger = try common.makeLogger()
        let queue = GrantQueue(connection: try common.connect(logger: logger))
        let stats = try queue.stats()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(stats), as: UTF8.self))
        } else {
            print(Self.render(stats))
        }
    }

    static func render(_ stats: QueueStats) -> String {
        var lines: [String] = ["STATE       JOBS"]
        for state in QueueStats.states {
            var line = state.padding(toLength: 12, withPad: " ", startingAt: 0) + String(stats.countsByState[state] ?? 0)
            if state == "pending", stats.scheduledPending > 0 { line += "  (\(stats.scheduledPending) not due yet)" }
            lines.append(line)
        }
        if let age = stats.oldestPendingAgeSeconds {
            lines.append("oldest due job waiting: \(String(format: "%.1f", age)) s")
        }
        if !stats.errorCodes.isEmpty {
            lines.append("")
            lines.append("ERROR CODE                                          STATE     JOBS")
            for entry in stats.errorCodes {
                lines.append(entry.code.padding(toLength: 52, withPad: " ", startingAt: 0)
                    + entry.state.padding(toLength: 10, withPad: " ", startingAt: 0) + String(entry.count))
            }
        }
        lines.append("")
        if stats.workers.isEmpty {
            lines.append("no live workers")
        } else {
            lines.append("WORKER                                    HOST                  PID      IN FLIGHT  HEARTBEAT")
            for worker in stats.workers {
                lines.append(worker.id.padding(toLength: 42, withPad: " ", startingAt: 0)
                    + worker.host.padding(toLength: 22, withPad: " ", startingAt: 0)
                    + String(worker.pid).padding(toLength: 9, withPad: " ", startingAt: 0)
                    + String(worker.inFlight).padding(toLength: 11, withPad: " ", startingAt: 0)
                    + String(format: "%.0f s ago", worker.heartbeatAgeSeconds))
            }
            for worker in stats.workers {
                if let reason = worker.pauseReason, let until = worker.pausedUntil {
                    lines.append("PAUSED \(worker.id) until \(ISO8601DateFormatter().string(from: until)): \(reason)")
                }
            }
        }
        return lines.joined(separator: "\n")
    }
}
