import Foundation
import GrantQueue
import Postgres
import XCTest

/// The insert trigger wakes idle workers: once per statement, promptly.
final class NotificationTests: DatabaseTestCase {
    func testAnInsertWakesAWaitingConnectionWithinOneSecond() throws {
        let listener = try database.connect()
        try listener.listen(GrantQueue.notificationChannel)
        let producer = try database.connect()
        let started = ContinuousClock.now
        try insertJobs(1, on: producer)
        let notifications = try listener.waitForNotifications(timeout: .seconds(1))
        XCTAssertEqual(notifications.map(\.channel), [GrantQueue.notificationChannel])
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1))
    }

    func testABulkInsertOfAThousandRowsSendsOneNotification() throws {
        let listener = try database.connect()
        try listener.listen(GrantQueue.notificationChannel)
        try insertJobs(1000)
        let first = try listener.waitForNotifications(timeout: .seconds(2))
        XCTAssertEqual(first.count, 1)
        // A marker sent after the insert: everything the insert caused arrives before it.
        try connection.query("SELECT pg_notify($1, 'marker')", [GrantQueue.notificationChannel])
        var later: [PostgresNotification] = []
        while !later.contains(where: { $0.payload == "marker" }) {
            let batch = try listener.waitForNotifications(timeout: .seconds(2))
            XCTAssertFalse(batch.isEmpty, "marker did not arrive")
            if batch.isEmpty { break }
            later += batch
        }
        XCTAssertEqual(later.map(\.payload), ["marker"], "the bulk insert sent more than one notification")
    }

    func testWaitingWithNothingSentTimesOut() throws {
        try connection.listen(GrantQueue.notificationChannel)
        let started = ContinuousClock.now
        XCTAssertEqual(try connection.waitForNotifications(timeout: .milliseconds(200)), [])
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(190))
    }
}
