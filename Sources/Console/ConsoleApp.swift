import Foundation
import GrantQueue
import Logging
import NIOHTTP1
import QueueOperations
import QueueReadModels

/// The console's routes: authentication and origin checks first, then one
/// queue verb per page or action (no SQL here).
final class ConsoleApp: Sendable {
    let options: ConsoleOptions
    let sessions: ConsoleSessions
    let database: ConsoleDatabase
    let events: ConsoleEvents
    let logger: Logger

    init(options: ConsoleOptions, database: ConsoleDatabase, events: ConsoleEvents, logger: Logger) {
        self.options = options
        self.sessions = ConsoleSessions(token: options.token)
        self.database = database
        self.events = events
        self.logger = logger
    }

    private var context: ConsolePages.Context {
        ConsolePages.Context(readOnly: options.readOnly, loginRequired: sessions.loginRequired)
    }

    /// What to do with a request: answer it, or (GET /events) hand the connection to the event stream.
    enum Outcome: Sendable {
        case respond(ConsoleResponse)
        case stream
    }

    func handle(_ request: ConsoleRequest) async -> Outcome {
        if !sessions.loginRequired && !request.isAddressedToLoopback {
            return .respond(.text("this console answers only requests addressed to a loopback host", status: .forbidden))
        }
        if request.method == .POST && !request.comesFromThisOrigin {
            return .respond(.text("refused: the request does not come from this console's own pages", status: .forbidden))
        }
        let route = ConsoleRoute(method: request.method, path: request.path)
        if !route.isPublic && !sessions.isValid(request.cookie(ConsoleSessions.cookieName)) {
            return .respond(request.method == .GET ? .redirect(to: "/login") : .text("log in first", status: .unauthorized))
        }
        do {
            switch route {
            case .stylesheet: return .respond(.asset(ConsoleAssets.css, contentType: "text/css; charset=utf-8"))
            case .script: return .respond(.asset(ConsoleAssets.javascript, contentType: "text/javascript; charset=utf-8"))
            case .loginForm: return .respond(sessions.loginRequired ? .html(ConsolePages.login(failed: false)) : .redirect(to: "/"))
            case .logIn: return .respond(logIn(request))
            case .logOut:
                sessions.logOut(request.cookie(ConsoleSessions.cookieName))
                return .respond(.redirect(to: "/login", headers: [("Set-Cookie", ConsoleSessions.expiredCookie)]))
            case .overview: return .respond(try await overview(fragment: false))
            case .overviewFragment: return .respond(try await overview(fragment: true))
            case .events: return .stream
            case .jobs: return .respond(try await jobs(request))
            case .confirm: return .respond(try await confirm(request))
            case .bulk(let action): return .respond(try await bulk(action, request))
            case .job(let id): return .respond(try await job(id, notice: request.query["done"]))
            case .single(let id, let action): return .respond(try await single(action, id))
            case .notFound:
                return .respond(.html(ConsolePages.message(title: "Not found", text: "There is no such page.", context: context),
                                      status: .notFound))
            }
        } catch let error as BadInput {
            return .respond(.html(ConsolePages.message(title: "Bad request", text: error.description, context: context),
                                  status: .badRequest))
        } catch {
            logger.warning("console: database unavailable", metadata: ["error": "\(error)"])
            return .respond(.html(ConsolePages.message(
                title: "Database unavailable", text: "The queue database did not answer; try again in a moment.", context: context),
                status: .serviceUnavailable))
        }
    }

    struct BadInput: Error, CustomStringConvertible {
        let description: String
    }

    private func logIn(_ request: ConsoleRequest) -> ConsoleResponse {
        guard sessions.loginRequired else { return .redirect(to: "/") }
        guard let session = sessions.logIn(presented: request.form["token"] ?? "") else {
            logger.notice("console: a login with a wrong token")
            return .html(ConsolePages.login(failed: true), status: .unauthorized)
        }
        return .redirect(to: "/", headers: [("Set-Cookie", sessions.cookie(for: session))])
    }

    private func overview(fragment: Bool) async throws -> ConsoleResponse {
        let (liveWithin, exactCountLimit, throttleCodes) = (options.liveWithin, options.exactCountLimit, options.throttleCodes)
        let overview = try await database.perform {
            try $0.consoleOverview(liveWithin: liveWithin, exactCountLimit: exactCountLimit, throttleCodes: throttleCodes)
        }
        if fragment { return .html(ConsolePages.overviewFragment(overview)) }
        let seconds = Int(options.refreshInterval.components.seconds)
        let live = events.isListening ? "Live: new jobs show at once, everything else within \(seconds) s."
            : "Refreshes every \(seconds) s (no LISTEN in transaction pool mode)."
        return .html(ConsolePages.overviewPage(overview, liveUpdates: live, context: context))
    }

    private func filter(from fields: [String: String]) throws -> ConsoleJobFilter {
        var filter = ConsoleJobFilter()
        if let state = fields["state"] {
            guard QueueStats.states.contains(state) else {
                throw BadInput(description: "Unknown state; expected one of \(QueueStats.states.joined(separator: ", ")).")
            }
            filter.state = state
        }
        filter.errorCode = fields["code"]?.trimmingCharacters(in: .whitespaces)
        if let id = fields["id"] {
            guard let parsed = Int64(id.trimmingCharacters(in: .whitespaces)) else { throw BadInput(description: "A job id is a whole number.") }
            filter.id = parsed
        }
        filter.idempotencyKey = fields["key"]
        filter.orderingKey = fields["okey"]
        filter.app = fields["app"]?.trimmingCharacters(in: .whitespaces)
        return filter
    }

    private func jobs(_ request: ConsoleRequest) async throws -> ConsoleResponse {
        let filter = try filter(from: request.query)
        let before = try request.query["before"].map { text in
            guard let parsed = Int64(text) else { throw BadInput(description: "`before` is a job id.") }
            return parsed
        }
        let limit = options.pageSize
        let jobs = try await database.perform { try $0.consoleJobs(filter, before: before, limit: limit) }
        return .html(ConsolePages.jobsPage(jobs, filter: filter, before: before, pageSize: limit, context: context))
    }

    private func job(_ idText: String, notice: String?) async throws -> ConsoleResponse {
        guard let id = Int64(idText) else { throw BadInput(description: "A job id is a whole number.") }
        guard let found = try await database.perform({ try $0.consoleJob(id: id) }) else {
            return .html(ConsolePages.message(title: "No such job", text: "No job has id \(id).", context: context), status: .notFound)
        }
        // Only fixed texts: nothing from the URL is shown back.
        let text = ["retried": "Retried: the job is pending again.", "cancelled": "Cancelled.",
                    "unchanged": "Nothing changed: the job was no longer in a state the action applies to."][notice ?? ""]
        return .html(ConsolePages.jobPage(found.job, attempts: found.attempts, notice: text, context: context))
    }

    private func refuseWhenReadOnly() throws -> ConsoleResponse? {
        options.readOnly ? .text("this console is read-only (--read-only)", status: .forbidden) : nil
    }

    private func confirm(_ request: ConsoleRequest) async throws -> ConsoleResponse {
        if let refusal = try refuseWhenReadOnly() { return refusal }
        guard let action = request.query["action"].flatMap(ConsoleAction.init(rawValue:)) else {
            throw BadInput(description: "Say which action: retry or cancel.")
        }
        let filter = try filter(from: request.query)
        guard !filter.isEmpty else { throw BadInput(description: "Filter the list first: an action on every job needs at least one filter.") }
        let count = try await database.perform { try $0.consoleCount(filter, inState: action.targetState) }
        return .html(ConsolePages.confirmPage(action: action, filter: filter, count: count, limit: options.bulkLimit, context: context))
    }

    private func bulk(_ action: ConsoleAction, _ request: ConsoleRequest) async throws -> ConsoleResponse {
        if let refusal = try refuseWhenReadOnly() { return refusal }
        let filter = try filter(from: request.form)
        guard !filter.isEmpty else { throw BadInput(description: "An action on every job needs at least one filter.") }
        let changed = try await apply(action, to: filter)
        logger.notice("console: bulk \(action.rawValue)", metadata: ["jobs": "\(changed)"])
        let done = action == .retry ? "Retried" : "Cancelled"
        return .html(ConsolePages.message(
            title: "\(done) \(HTML.number(changed)) job\(changed == 1 ? "" : "s")",
            text: request.form["expected"].map { "The confirmation counted \($0); jobs may have changed state since." } ?? "",
            context: context,
            links: [("/jobs" + HTML.query(ConsolePages.fields(of: filter)), "Back to the list"), ("/", "Overview")]))
    }

    private func single(_ action: ConsoleAction, _ idText: String) async throws -> ConsoleResponse {
        if let refusal = try refuseWhenReadOnly() { return refusal }
        guard let id = Int64(idText) else { throw BadInput(description: "A job id is a whole number.") }
        let changed = try await apply(action, to: ConsoleJobFilter(id: id))
        logger.notice("console: \(action.rawValue)", metadata: ["job": "\(id)", "changed": "\(changed)"])
        let done = changed == 0 ? "unchanged" : (action == .retry ? "retried" : "cancelled")
        return .redirect(to: "/jobs/\(id)?done=\(done)")
    }

    /// Retries the failed, or cancels the pending, jobs the filter matches; returns how many changed.
    private func apply(_ action: ConsoleAction, to filter: ConsoleJobFilter) async throws -> Int {
        let (limit, attempts) = (options.bulkLimit, options.retryAttempts)
        return try await database.perform { queue in
            switch action {
            case .retry: try queue.consoleRetry(filter, moreAttempts: attempts, limit: limit)
            case .cancel: try queue.consoleCancel(filter, limit: limit)
            }
        }
    }
}
