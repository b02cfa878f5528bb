import Foundation

/// Text conversion of `timestamptz`, independent of the C library's locale.
///
/// Connections set `DateStyle = ISO` and `TimeZone = UTC`, so the server prints
/// `2026-11-25 14:40:09.123456+00`; other offsets are still understood.
public enum PostgresTimestamp {
    public static func format(_ date: Date) -> String {
        let totalMicroseconds = (date.timeIntervalSince1970 * 1_000_000).rounded()
        var seconds = Int64((totalMicroseconds / 1_000_000).rounded(.down))
        var micros = Int64(totalMicroseconds) - seconds * 1_000_000
        if micros < 0 {
            micros += 1_000_000
            seconds -= 1
        }
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civil(fromDays: days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2)) "
            + "\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2))"
            + ".\(pad(micros, 6))+00"
    }

    public static func parse(_ text: String) throws(PostgresDecodingError) -> Date {
        func fail(_ reason: String) -> PostgresDecodingError {
            PostgresDecodingError(type: "Date", reason: reason, value: text)
        }
        switch text {
        case "infinity": return .distantFuture
        case "-infinity": return .distantPast
        default: break
        }
        let bytes = Array(text.utf8)
        var index = 0
        func number(maxDigits: Int) -> Int64? {
            var value: Int64 = 0
            var digits = 0
            while index < bytes.count, digits < maxDigits, bytes[index] >= 48, bytes[index] <= 57 {
                value = value * 10 + Int64(bytes[index] - 48)
                index += 1
                digits += 1
            }
            return digits == 0 ? nil : value
        }
        func expect(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }
        guard let year = number(maxDigits: 7), expect(UInt8(ascii: "-")),
            let month = number(maxDigits: 2), expect(UInt8(ascii: "-")),
            let day = number(maxDigits: 2)
        else { throw fail("expected YYYY-MM-DD") }
        guard expect(UInt8(ascii: " ")) || expect(UInt8(ascii: "T")),
            let hour = number(maxDigits: 2), expect(UInt8(ascii: ":")),
            let minute = number(maxDigits: 2), expect(UInt8(ascii: ":")),
            let second = number(maxDigits: 2)
        else { throw fail("expected HH:MM:SS") }
        var fraction = 0.0
        if expect(UInt8(ascii: ".")) {
            var scale = 0.1
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                fraction += Double(bytes[index] - 48) * scale
                scale /= 10
                index += 1
            }
        }
        var offsetSeconds: Int64 = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            let sign: Int64 = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            index += 1
            guard let offsetHours = number(maxDigits: 2) else { throw fail("bad UTC offset") }
            var offsetMinutes: Int64 = 0
            var offsetSecondsPart: Int64 = 0
            if expect(UInt8(ascii: ":")) { offsetMinutes = number(maxDigits: 2) ?? 0 }
            if expect(UInt8(ascii: ":")) { offsetSecondsPart = number(maxDigits: 2) ?? 0 }
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60 + offsetSecondsPart)
        } else if expect(UInt8(ascii: "Z")) {
            offsetSeconds = 0
        }
        guard index == bytes.count else { throw fail("unexpected trailing text") }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's algorithm).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
