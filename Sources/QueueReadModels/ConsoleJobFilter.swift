import GrantQueue
import Postgres

/// Which jobs the console lists (and, for bulk actions, acts on). The parts
/// given combine with AND; an empty filter lists every job.
///
/// Each part matches an index (sql/011_console.sql), so a filtered page costs
/// the same on a million rows as on a thousand. The `app` part has no index of
/// its own (one more index on every write of every job): alone, it reads the
/// newest jobs until a page of the app's is found, quick for an app with a fair
/// share of the jobs, slower for one with few among millions.
public struct ConsoleJobFilter: Sendable, Equatable {
    public var state: String?
    public var errorCode: String?
    public var id: Int64?
    public var idempotencyKey: String?
    public var orderingKey: String?
    public var app: String?

    public init(state: String? = nil, errorCode: String? = nil, id: Int64? = nil,
                idempotencyKey: String? = nil, orderingKey: String? = nil, app: String? = nil) {
        self.state = state
        self.errorCode = errorCode
        self.id = id
        self.idempotencyKey = idempotencyKey
        self.orderingKey = orderingKey
        self.app = app
    }

    public var isEmpty: Bool { self == ConsoleJobFilter() }

    /// The filter's parameters in the order the console's SQL numbers them ($1...$6).
    package var parameters: [any PostgresEncodable] { [state, errorCode, id, idempotencyKey, orderingKey, app] }
}
