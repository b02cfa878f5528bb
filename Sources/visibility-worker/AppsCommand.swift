import ArgumentParser
import Foundation
import GrantQueue
import QueueOperations
import QueueReadModels

struct AppsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apps",
        abstract: "Manage the DingTalk apps whose jobs the queue holds (visibility_apps; no secrets there).",
        discussion: """
            Each job names its app in the `app` column (default: `default`, the app of
            DINGTALK_APP_KEY or DINGTALK_ACCESS_TOKEN). Workers find an app's secret in
            DINGTALK_APP_SECRETS_DIR, in a file named after its app key.

            `grant` confines a producer login (a member of visibility_producer) to an
            app: from then on it inserts and reads only the jobs and attempts of the
            apps it was granted. A producer login granted no app sees every app, as
            before; grant an app to every producer login to confine them all. Only
            the schema owner may grant and revoke.

            Examples:
              visibility-worker apps add acme --app-key dingacme0001 --global-qps 20 --comment "Acme Ltd"
              visibility-worker apps list
              visibility-worker apps grant acme hr_sync_acme
              visibility-worker apps revoke acme hr_sync_acme
              visibility-worker apps remove acme
            """,
        subcommands: [Add.self, List.self, Remove.self, Grant.self, Revoke.self]
    )

    /// Connects and runs one change, turning a refusal into the command's error message.
    static func change<T>(_ common: CommonOptions, _ body: (GrantQueue) throws -> T) throws -> T {
        let logger = try common.makeLogger()
        let queue = GrantQueue(connection: try common.connect(logger: logger))
        do {
            return try body(queue)
        } catch let error as GrantAppError {
            throw CommandError(error.description)
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register an app (or change one with --replace).")

        @OptionGroup var common: CommonOptions
        @Argument(help: "The app's name, as producers write it in the job's `app` column.") var name: String
        @Option(help: "The DingTalk app key (AppKey / Client ID); its secret file has this name.") var appKey: String?
        @Option(help: "Calls per second for the whole fleet for this app (default: the workers' --global-qps).") var globalQPS: Double?
        @Option(help: "A note for operators.") var comment: String?
        @Flag(help: "Change an existing app instead of refusing.") var replace = false

        func run() throws {
            if appKey == nil, name != GrantApp.defaultName, !replace { throw ValidationError("--app-key is required") }
            if let globalQPS, !(0.01...100_000).contains(globalQPS) { throw ValidationError("--global-qps must be 0.01 to 100000") }
            let logger = try common.makeLogger()
            let queue = GrantQueue(connection: try common.connect(logger: logger))
            do {
                try queue.addApp(name: name, appKey: appKey, globalQPS: globalQPS, comment: comment, replace: replace)
            } catch let error as GrantAppError {
                throw CommandError(error.description)
            }
            print(replace ? "app \(name) saved" : "app \(name) added")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the apps, their budgets, pauses and unfinished jobs.")

        @OptionGroup var common: CommonOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() throws {
            let logger = try common.makeLogger()
            let apps = try GrantQueue(connection: try common.connect(logger: logger)).apps()
            guard !json else { return print(JSONOutput.text(apps, pretty: true)) }
            print(Self.render(apps))
        }

        static func render(_ apps: [GrantApp]) -> String {
            var lines = ["APP                   APP KEY                           GLOBAL QPS  UNFINISHED  COMMENT"]
            for app in apps {
                lines.append(app.name.padding(toLength: 22, withPad: " ", startingAt: 0)
                    + (app.appKey ?? "(from the environment)").padding(toLength: 34, withPad: " ", startingAt: 0)
                    + (app.globalQPS.map { String($0) } ?? "-").padding(toLength: 12, withPad: " ", startingAt: 0)
                    + (app.unfinishedJobs.map { "\($0)\(app.unfinishedJobsAtLeast == true ? "+" : "")" } ?? "-").padding(toLength: 12, withPad: " ", startingAt: 0)
                    + (app.comment ?? ""))
            }
            let formatter = ISO8601DateFormatter()
            for app in apps {
                guard let reason = app.pauseReason, let until = app.pausedUntil else { continue }
                let state = app.probeBy.map { "probing by \($0)" } ?? "until \(formatter.string(from: until))"
                lines.append("PAUSED \(app.name) (\(state)): \(reason)")
            }
            for app in apps {
                guard let roles = app.producerRoles, !roles.isEmpty else { continue }
                lines.append("PRODUCERS of \(app.name) (confined to it): \(roles.joined(separator: ", "))")
            }
            return lines.joined(separator: "\n")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an app no job names any more.")

        @OptionGroup var common: CommonOptions
        @Argument(help: "The app's name.") var name: String

        func run() throws {
            try AppsCommand.change(common) { try $0.removeApp(name: name) }
            print("app \(name) removed")
        }
    }

    /// The two arguments of `grant` and `revoke`.
    struct AppAndProducer: ParsableArguments {
        @Argument(help: "The app's name.") var app: String
        @Argument(help: "The producer login (a member of visibility_producer).") var role: String
    }

    struct Grant: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Confine a producer login to an app: it inserts and reads only the jobs of the apps it was granted.")

        @OptionGroup var common: CommonOptions
        @OptionGroup var mapping: AppAndProducer

        func run() throws {
            let (app, role) = (mapping.app, mapping.role)
            let added = try AppsCommand.change(common) { try $0.grantApp(app, toProducer: role) }
            print(added ? "role \(role) confined to app \(app)" : "role \(role) was confined to app \(app) already")
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Lift a producer login's confinement to an app (with no app left, it sees every app again).")

        @OptionGroup var common: CommonOptions
        @OptionGroup var mapping: AppAndProducer

        func run() throws {
            let (app, role) = (mapping.app, mapping.role)
            let remaining = try AppsCommand.change(common) { try $0.revokeApp(app, fromProducer: role) }
            print("role \(role) no longer confined to app \(app)")
            if remaining.isEmpty {
                FileHandle.standardError.write(Data("warning: role \(role) is confined to no app now: it sees and inserts every app's jobs again\n".utf8))
            } else {
                print("role \(role) is still confined to: \(remaining.joined(separator: ", "))")
            }
        }
    }
}
