import Foundation

/// A grant to enqueue: the producer's columns of `visibility_grant_jobs`.
public struct NewGrantJob: Sendable, Equatable {
    /// Mirrors the column default of `max_attempts` (an integration test keeps the two equal).
    public static let defaultMaxAttempts: Int32 = 10
    /// The values `fields` may hold; empty means "mobile only" to the API.
    public static let allowedFields: Set<String> = ["mobile", "status"]
    public static let maxCorpIDs = 100
    /// The bounds of sql/009_producer_contract.sql, which says why each is what it is.
    /// Lengths count Unicode scalars, as PostgreSQL's `length()` does.
    public static let maxCorpIDLength = 64
    public static let maxOptUserIDLength = 128
    public static let maxKeyLength = 256
    public static let priorityRange: ClosedRange<Int> = -100...100
    /// 366 days: a year ahead at most, whatever the year.
    public static let maxRunAtLead: TimeInterval = 366 * 86_400

    public var toCorpIds: [String]
    public var optUserId: String
    public var fields: [String]
    public var idempotencyKey: String?
    public var orderingKey: String?
    public var priority: Int16
    /// `nil`: as soon as possible (the database's `now()`).
    public var runAt: Date?
    public var maxAttempts: Int32
    /// The DingTalk app whose credentials and quota apply (a row of `visibility_apps`).
    public var app: String
    /// The W3C `traceparent` of the producer's span that queued the job, if any.
    public var traceparent: String?

    public init(
        toCorpIds: [String], optUserId: String, fields: [String] = [], idempotencyKey: String? = nil,
        orderingKey: String? = nil, priority: Int16 = 0, runAt: Date? = nil,
        maxAttempts: Int32 = NewGrantJob.defaultMaxAttempts, app: String = GrantApp.defaultName,
        traceparent: String? = nil
    ) {
        self.toCorpIds = toCorpIds
        self.optUserId = optUserId
        self.fields = fields
        self.idempotencyKey = idempotencyKey
        self.orderingKey = orderingKey
        self.priority = priority
        self.runAt = runAt
        self.maxAttempts = maxAttempts
        self.app = app
        self.traceparent = traceparent
    }

    /// The rules the table's CHECK constraints enforce, checked before anything is
    /// sent so that a bad line in a file is reported with its line number. Each
    /// problem names the constraint the database would cite. `now` is this
    /// machine's clock; the database measures `run_at` against its own.
    public func problems(now: Date = Date()) -> [String] {
        var problems: [String] = []
        if toCorpIds.isEmpty || toCorpIds.count > Self.maxCorpIDs {
            problems.append("to_corp_ids must have 1 to \(Self.maxCorpIDs) entries (has \(toCorpIds.count)) [to_corp_ids_must_have_1_to_100_entries]")
        }
        if toCorpIds.contains("") {
            problems.append("to_corp_ids must not contain empty strings [to_corp_ids_must_not_contain_empty_strings]")
        }
        if optUserId.trimmingSpaces().isEmpty {
            problems.append("opt_user_id must not be blank [opt_user_id_must_not_be_blank]")
        }
        let unknownFields = fields.filter { !Self.allowedFields.contains($0) }
        if !unknownFields.isEmpty {
            problems.append("fields may only hold mobile and status (got \(unknownFields.joined(separator: ", "))) [fields_must_be_mobile_or_status]")
        }
        if idempotencyKey == "" {
            problems.append("idempotency_key must not be empty; leave it out instead [idempotency_key_must_not_be_empty]")
        }
        if orderingKey == "" {
            problems.append("ordering_key must not be empty; leave it out instead [ordering_key_must_not_be_empty]")
        }
        if let traceparent, !Self.isW3CTraceparent(traceparent) {
            problems.append("traceparent must be a W3C traceparent: 00-<32 hex>-<16 hex>-<2 hex>, lowercase, ids not all zeros [traceparent_must_be_w3c]")
        }
        if !(1...1000).contains(maxAttempts) {
            problems.append("max_attempts must be 1 to 1000 (got \(maxAttempts)) [max_attempts_must_be_1_to_1000]")
        }
        return problems + boundProblems(now: now)
    }

    /// The length, priority and run_at bounds (sql/009_producer_contract.sql).
    func boundProblems(now: Date) -> [String] {
        var problems: [String] = []
        if let longest = toCorpIds.lazy.map({ $0.unicodeScalars.count }).max(), longest > Self.maxCorpIDLength {
            problems.append("to_corp_ids entries must be at most \(Self.maxCorpIDLength) characters (the longest has \(longest)) [to_corp_ids_entries_must_be_at_most_64_characters]")
        }
        if optUserId.unicodeScalars.count > Self.maxOptUserIDLength {
            problems.append("opt_user_id must be at most \(Self.maxOptUserIDLength) characters (has \(optUserId.unicodeScalars.count)) [opt_user_id_must_be_at_most_128_characters]")
        }
        for (column, key) in [("idempotency_key", idempotencyKey), ("ordering_key", orderingKey)] {
            if let key, key.unicodeScalars.count > Self.maxKeyLength {
                problems.append("\(column) must be at most \(Self.maxKeyLength) characters (has \(key.unicodeScalars.count)) [\(column)_must_be_at_most_256_characters]")
            }
        }
        if fields.count > Self.allowedFields.count {
            problems.append("fields must have at most \(Self.allowedFields.count) entries (has \(fields.count)) [fields_must_have_at_most_2_entries]")
        }
        if !Self.priorityRange.contains(Int(priority)) {
            problems.append(Self.priorityProblem(Int(priority)))
        }
        if let runAt, runAt > now.addingTimeInterval(Self.maxRunAtLead) {
            problems.append("run_at must be at most 366 days ahead (got \(ISO8601DateFormatter().string(from: runAt))) [run_at_must_be_at_most_366_days_ahead]")
        }
        return problems
    }

    /// What the constraint `traceparent_must_be_w3c` (sql/021) accepts.
    public static func isW3CTraceparent(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard bytes.count == 55, bytes[0] == UInt8(ascii: "0"), bytes[1] == UInt8(ascii: "0"),
              bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-")
        else { return false }
        let lowerHex = { (byte: UInt8) in (48...57).contains(byte) || (97...102).contains(byte) }
        let traceID = bytes[3..<35], parentID = bytes[36..<52], flags = bytes[53..<55]
        guard traceID.allSatisfy(lowerHex), parentID.allSatisfy(lowerHex), flags.allSatisfy(lowerHex) else { return false }
        return traceID.contains { $0 != UInt8(ascii: "0") } && parentID.contains { $0 != UInt8(ascii: "0") }
    }

    /// Also for values a file holds that do not even fit in a smallint.
    public static func priorityProblem(_ priority: Int) -> String {
        "priority must be \(priorityRange.lowerBound) to \(priorityRange.upperBound) (got \(priority)) [priority_must_be_minus_100_to_100]"
    }
}

/// What enqueueing one job did.
public enum EnqueueResult: Sendable, Equatable {
    case inserted(id: Int64)
    /// A job with the same idempotency key already exists; nothing was inserted.
    case duplicate(existingID: Int64)
}

/// What enqueueing many jobs did.
public struct BulkEnqueueResult: Sendable, Equatable {
    public var submitted: Int
    public var inserted: Int
    /// The first lines whose idempotency key an earlier line of the same input
    /// already used (skipped, like any taken key), and how many there were in all.
    public var repeatedKeys: [RepeatedKey]
    public var repeatedKeyCount: Int

    public init(submitted: Int, inserted: Int, repeatedKeys: [RepeatedKey] = [], repeatedKeyCount: Int = 0) {
        self.submitted = submitted
        self.inserted = inserted
        self.repeatedKeys = repeatedKeys
        self.repeatedKeyCount = repeatedKeyCount
    }

    /// Rows skipped because their idempotency key was already taken (in the table or earlier in the input).
    public var duplicates: Int { submitted - inserted }
}

/// A line whose idempotency key repeats that of an earlier line.
public struct RepeatedKey: Sendable, Equatable, CustomStringConvertible {
    public let line: Int
    public let firstLine: Int

    public init(line: Int, firstLine: Int) {
        self.line = line
        self.firstLine = firstLine
    }

    public var description: String { "line \(line): idempotency_key repeats line \(firstLine)'s; skipped" }
}
