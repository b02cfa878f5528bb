import GrantQueue
import Postgres

/// Which jobs the console lists (and, for bulk actions, acts on). The parts
/// given combine with AND; an empty filter lists every job.
///
/// Each part matches an index (sql/011_console.sql), so a filtered page costs
/// the same on a million rows as on a thousand. An `app` part is meant to join
/// these once jobs carry an app.
public struct ConsoleJobFilter: Sendable, Equatable {
    public var state: String?
    public var errorCode: String?
    public var id: Int64?
    public var idempotencyKey: String?
    public var orderingKey: String?

    public init(state: String? = nil, errorCode: String? = nil, id: Int64? = nil,
                idempotencyKey: String? = nil, orderingKey: String? = nil) {
        self.state = state
        self.errorCode = errorCode
        self.id = id
        self.idempotencyKey = idempotencyKey
        self.orderingKey = orderingKey
    }

    public var isEmpty: Bool { self == ConsoleJobFilter() }

    /// The filter's parameters in the order the console's SQL numbers them ($1...$5).
    package var parameters: [any PostgresEncodable] { [state, errorCode, id, idempotencyKey, orderingKey] }
}
