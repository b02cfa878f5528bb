import Foundation
import GrantQueue
import Postgres
import XCTest

/// The insert trigger wakes idle workers: once per statement, promptly.
final class NotificationTests: DatabaseTestCase {
    /// The wait returns with the notification, not at its timeout: an empty answer
    /// would mean the bound ran out first.
    func testAnInsertWakesAWaitingConnection() throws {
        let listener = try database.connect()
        try listener.listen(GrantQueue.notificationChannel)
        let producer = try database.connect()
        try insertJobs(1, on: producer)
        let notifications = try listener.waitForNotifications(timeout: .seconds(30))
        XCTAssertEqual(notifications.map(\.channel), [GrantQueue.notificationChannel])
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

    /// A wait that times out answers nothing and loses nothing: a notification sent
    /// after it is the next one read.
    func testWaitingWithNothingSentTimesOutAndMissesNothingAfter() throws {
        try connection.listen(GrantQueue.notificationChannel)
        XCTAssertEqual(try connection.waitForNotifications(timeout: .milliseconds(200)), [])
        try database.connect().query("SELECT pg_notify($1, 'after')", [GrantQueue.notificationChannel])
        XCTAssertEqual(try connection.waitForNotifications(timeout: .seconds(30)).map(\.payload), ["after"])
    }
}
