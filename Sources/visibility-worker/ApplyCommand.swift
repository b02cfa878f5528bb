import ArgumentParser
import DingTalk
import Foundation
import GrantQueue

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Call the API once for one grant, outside the queue, and print its answer.",
        discussion: """
            For checking credentials, network and permissions before starting workers,
            and for scripts/conformance. No database is used and nothing is recorded:
            grants meant to be applied belong in the queue (enqueue), which keeps the
            audit trail. The call is classified exactly as `run` would classify it; a
            refused token is refreshed and the call sent once more.

            Exit status: 0 when the grant was applied, 1 for any other answer.

            Examples:
              DINGTALK_APP_KEY=ding... DINGTALK_APP_SECRET_FILE=/run/secrets/dingtalk \\
                  visibility-worker apply --corp-id ding123 --opt-user-id 102530009661373952
              visibility-worker apply --corp-id ding123 --opt-user-id 1025 --field status --json
            """
    )

    @OptionGroup var dingTalk: DingTalkOptions

    @Option(name: .customLong("corp-id"), help: "A corp id to make the account visible in (repeatable).")
    var corpIDs: [String] = []

    @Option(name: .customLong("opt-user-id"), help: "The operating user's id.")
    var optUserID: String

    @Option(name: .customLong("field"), help: "mobile or status (repeatable; none means mobile only).")
    var fields: [String] = []

    @Flag(help: "Print the answer as one JSON object.")
    var json = false

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let job = NewGrantJob(toCorpIds: corpIDs, optUserId: optUserID, fields: fields)
        let problems = job.problems()
        guard problems.isEmpty else { throw CommandError(problems.joined(separator: "\n")) }
        let logger = try logging.makeLogger()
        let (client, transport) = try dingTalk.makeClient(connections: 1, logger: logger)
        let result = await client.apply(VisibilityGrant(toCorpIds: corpIDs, optUserId: optUserID, fields: fields))
        try? await transport.shutdown()
        print(json ? Self.json(result) : Self.text(result))
        if result.outcomeClass != .success { throw ExitCode(1) }
    }

    static func text(_ result: APICallResult) -> String {
        var parts = [result.outcomeClass == .success ? "applied" : "not applied: \(result.outcomeClass.rawValue)"]
        if let status = result.httpStatus { parts.append("HTTP \(status)") }
        if let code = result.code { parts.append(code) }
        if let message = result.message { parts.append(message) }
        if let requestID = result.requestID { parts.append("request id \(requestID)") }
        return parts.joined(separator: ", ")
    }

    static func json(_ result: APICallResult) -> String {
        struct Answer: Encodable {
            let outcome: String
            let httpStatus: Int?
            let code: String?
            let message: String?
            let requestId: String?
            let reachedAPI: Bool
        }
        let answer = Answer(outcome: result.outcomeClass.rawValue, httpStatus: result.httpStatus, code: result.code,
                            message: result.message, requestId: result.requestID, reachedAPI: result.reachedAPI)
        return JSONOutput.text(answer)
    }
}
