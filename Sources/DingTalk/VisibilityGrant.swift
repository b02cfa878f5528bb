/// The body of `PUT /v1.0/contact/orgAccounts/mobiles/visibleInOtherOrg`.
public struct VisibilityGrant: Sendable, Equatable, Codable {
    /// Corp ids (`ding…`) the account becomes visible in.
    public var toCorpIds: [String]
    public var optUserId: String
    /// `mobile` and/or `status`; empty means mobile only, and is left out of the JSON.
    public var fields: [String]

    public init(toCorpIds: [String], optUserId: String, fields: [String] = []) {
        self.toCorpIds = toCorpIds
        self.optUserId = optUserId
        self.fields = fields
    }

    enum CodingKeys: String, CodingKey {
        case toCorpIds, optUserId, fields
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        toCorpIds = try container.decode([String].self, forKey: .toCorpIds)
        optUserId = try container.decode(String.self, forKey: .optUserId)
        fields = try container.decodeIfPresent([String].self, forKey: .fields) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(toCorpIds, forKey: .toCorpIds)
        try container.encode(optUserId, forKey: .optUserId)
        if !fields.isEmpty { try container.encode(fields, forKey: .fields) }
    }
}
