import Foundation
import GrantQueue
import Postgres

extension GrantQueue {
    static let reserveRateSlots = PostgresStatement(
        name: "rate_slots_reserve",
        sql: "SELECT granted, first_in, wait_seconds FROM visibility_reserve_rate_slots($1, $2, $3, $4)"
    )

    /// Reserves up to `wanted` call times for `appKey`'s fleet budget, spaced
    /// `1/rate` apart, the first within `horizon` (sql/010_apps.sql). Returns how
    /// many, when the first is, and, when none, how long until one would be.
    public func reserveRateSlots(appKey: String, rate: Double, wanted: Int, horizon: Duration) throws
        -> (granted: Int, firstIn: Duration, wait: Duration)
    {
        let row = try connection.query(Self.reserveRateSlots, [appKey, rate, wanted, horizon.seconds]).first
        let granted = try row?.decode(0, as: Int.self) ?? 0
        let firstIn = try row?.decode(1, as: Double.self) ?? 0
        let wait = try row?.decode(2, as: Double.self) ?? 0
        return (granted, .microseconds(Int64(max(0, firstIn) * 1e6)), .microseconds(Int64(max(0, wait) * 1e6)))
    }
}
