/// One exchange kept for `GET /__fake/requests`: the request as received and what
/// the fake answered.
struct RecordedRequest: Codable {
    let method: String
    let path: String
    let headers: [String: String]
    let body: String
    /// The answer's status, or nil when the connection was reset or left hanging.
    let status: Int?
    /// The `x-acs-request-id` the answer carried.
    let requestId: String?

    init(_ request: FakeRequest, answer: FakeAnswer) {
        method = request.method
        path = request.path
        headers = Dictionary(request.headers.map { ($0.0.lowercased(), $0.1) }, uniquingKeysWith: { $1 })
        body = String(decoding: request.body, as: UTF8.self)
        status = answer.status
        requestId = answer.requestID
    }
}
