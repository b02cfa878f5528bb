import Foundation

extension StringProtocol where UTF8View: BidirectionalCollection {
    /// `trimmingCharacters(in: .whitespaces)`, without Foundation's cost when, as in
    /// almost every cell, both ends are plainly not spaces (ASCII, not a space or tab).
    package func trimmingSpaces() -> String {
        guard let first = utf8.first, let last = utf8.last else { return "" }
        func plain(_ byte: UInt8) -> Bool { byte < 0x80 && byte != 0x20 && byte != 0x09 }
        return plain(first) && plain(last) ? String(self) : trimmingCharacters(in: .whitespaces)
    }
}
