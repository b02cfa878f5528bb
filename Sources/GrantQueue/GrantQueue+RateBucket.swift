import Foundation
import Postgres

extension GrantQueue {
    static let takeRateTokens = PostgresStatement(
        name: "rate_bucket_take",
        sql: "SELECT granted, wait_seconds FROM visibility_take_rate_tokens($1, $2, $3, $4)"
    )

    /// Takes up to `wanted` call tokens from the fleet-wide bucket of `appKey`
    /// (sql/006_rate_buckets.sql). Returns the tokens granted and, when short,
    /// how long until the rest would be there.
    public func takeRateTokens(appKey: String, rate: Double, burst: Double, wanted: Int) throws -> (granted: Int, wait: Duration) {
        let row = try connection.query(Self.takeRateTokens, [appKey, rate, burst, wanted]).first
        let granted = try row?.decode(0, as: Int.self) ?? 0
        let wait = try row?.decode(1, as: Double.self) ?? 0
        return (granted, .milliseconds(Int64(max(0, wait) * 1000)))
    }
}
