import Foundation

/// How commands print JSON for scripts: sorted keys, ISO 8601 dates, one line
/// unless `pretty`. Encoding these plain value types cannot fail in practice;
/// should it, the output is still JSON.
enum JSONOutput {
    static func text(_ value: some Encodable, pretty: Bool = false) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        guard let data = try? encoder.encode(value) else { return #"{"error":"cannot encode the output"}"# }
        return String(decoding: data, as: UTF8.self)
    }
}
