import GrantQueue
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a file descriptor in fixed-size chunks and hands out its lines, so a
/// file of any size is read in constant memory. A line is valid only until the
/// next call.
final class ByteStream {
    private let descriptor: Int32
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    private var atEnd = false
    /// Bytes read from the descriptor so far (for progress).
    private(set) var bytesRead = 0

    init(descriptor: Int32, chunkSize: Int = 1 << 20) {
        self.descriptor = descriptor
        buffer = [UInt8](repeating: 0, count: chunkSize)
    }

    /// Bytes already in memory: nothing is read.
    init(bytes: [UInt8]) {
        descriptor = -1
        buffer = bytes
        end = bytes.count
        atEnd = true
        bytesRead = bytes.count
    }

    /// Calls `body` with the next line (without its `\n`) and returns what it returns; nil at the end.
    func nextLine<R>(_ body: (ArraySlice<UInt8>) throws -> R) throws -> R? {
        while true {
            if let newline = buffer[start..<end].firstIndex(of: UInt8(ascii: "\n")) {
                defer { start = newline + 1 }
                return try body(buffer[start..<newline])
            }
            if atEnd {
                guard start < end else { return nil }
                defer { start = end }
                return try body(buffer[start..<end])
            }
            try fill()
        }
    }

    /// Moves what is left to the front and reads more; grows the buffer only for a line longer than it.
    private func fill() throws {
        if start > 0 {
            buffer.withUnsafeMutableBufferPointer { bytes in
                _ = memmove(bytes.baseAddress!, bytes.baseAddress! + start, end - start)
            }
            end -= start
            start = 0
        }
        if end == buffer.count { buffer.append(contentsOf: repeatElement(0, count: buffer.count)) }
        let count = buffer.withUnsafeMutableBufferPointer { bytes in
            read(descriptor, bytes.baseAddress! + end, bytes.count - end)
        }
        if count < 0 {
            if errno == EINTR { return }
            throw ReadError(description: "cannot read: \(String(cString: strerror(errno)))")
        }
        if count == 0 { atEnd = true }
        end += count
        bytesRead += count
    }
}
