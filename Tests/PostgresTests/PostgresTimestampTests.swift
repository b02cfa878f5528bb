import Foundation
import Postgres
import XCTest

final class PostgresTimestampTests: XCTestCase {
    func testParsesServerOutputWithOffsets() throws {
        let utc = try PostgresTimestamp.parse("2026-11-25 14:40:09.5+00")
        XCTAssertEqual(utc.timeIntervalSince1970, 1_795_617_609.5, accuracy: 1e-6)
        let shifted = try PostgresTimestamp.parse("2026-11-25 22:40:09.5+08")
        XCTAssertEqual(shifted, utc)
        let iso = try PostgresTimestamp.parse("2026-11-25T14:40:09.5Z")
        XCTAssertEqual(iso, utc)
        let halfHour = try PostgresTimestamp.parse("2026-11-25 20:10:09.5+05:30")
        XCTAssertEqual(halfHour, utc)
        XCTAssertEqual(try PostgresTimestamp.parse("1970-01-01 00:00:00+00").timeIntervalSince1970, 0)
        XCTAssertEqual(try PostgresTimestamp.parse("infinity"), .distantFuture)
    }

    func testFormatRoundTripsToTheMicrosecond() throws {
        for seconds in [0.0, 1_795_617_609.123456, -86_400.25, 951_782_400.000001 /* 2000-02-29 */] {
            let date = Date(timeIntervalSince1970: seconds)
            let text = PostgresTimestamp.format(date)
            XCTAssertEqual(try PostgresTimestamp.parse(text).timeIntervalSince1970, seconds, accuracy: 1e-6, text)
        }
        XCTAssertEqual(PostgresTimestamp.format(Date(timeIntervalSince1970: 951_782_400)), "2000-02-29 00:00:00.000000+00")
    }

    func testRejectsGarbage() {
        for bad in ["", "yesterday", "2026-11-25", "2026-11-25 14:40", "2026-11-25 14:40:09 junk"] {
            XCTAssertThrowsError(try PostgresTimestamp.parse(bad), bad)
        }
    }
}
