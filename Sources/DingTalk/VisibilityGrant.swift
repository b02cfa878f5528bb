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

    /// The request body, written directly (this runs once per call; Foundation's
    /// JSONEncoder costs several times more). Same bytes as `JSONEncoder` would
    /// give for these keys, `fields` left out when empty.
    public var jsonBody: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + toCorpIds.count * 24 + optUserId.utf8.count)
        out.append(contentsOf: #"{"toCorpIds":["#.utf8)
        for (index, corpID) in toCorpIds.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            Self.appendJSONString(corpID, to: &out)
        }
        out.append(contentsOf: #"],"optUserId":"#.utf8)
        Self.appendJSONString(optUserId, to: &out)
        if !fields.isEmpty {
            out.append(contentsOf: #","fields":["#.utf8)
            for (index, field) in fields.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.appendJSONString(field, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    static func appendJSONString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
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
