import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Extra serial output a server can be asked for at run time, for console tests and
/// benchmarks: a steady tick (so a console that attaches late sees output soon) and a burst of
/// bulk output (to measure throughput).
///
/// Requests are small files in the server's chassis directory, read by the lab process every
/// 250 ms along with the power state, so any process may write them (write a temporary file and
/// rename it over the name):
///
/// | file | content | effect |
/// |---|---|---|
/// | `serial-tick` | milliseconds (10...60000) | while powered on and done booting, print `lab-node-N tick K` every interval; remove the file to stop |
/// | `serial-burst` | `BYTES [BYTES_PER_SECOND]` | print BYTES bytes (1...1 GiB) of numbered 64-byte lines, at most that fast; the lab removes the file when it starts |
///
/// Output is only produced while the server is powered on; a power cut ends a burst, and ticks
/// pause while a burst is under way.
public enum SerialControl {
    /// The tick request file in a chassis directory.
    public static let tickFileName = "serial-tick"
    /// The burst request file in a chassis directory.
    public static let burstFileName = "serial-burst"
    /// Accepted tick intervals, in milliseconds.
    public static let tickRange = 10...60_000
    /// Largest burst, in bytes.
    public static let maximumBurst = 1 << 30
    /// Length of every burst line, CR LF included.
    public static let burstLineLength = 64

    /// A burst request: how many bytes, and at most how fast (nil: as fast as the clients read).
    public struct Burst: Sendable, Equatable {
        /// Bytes to print.
        public var bytes: Int
        /// Highest rate in bytes per second; nil for no limit but the readers'.
        public var bytesPerSecond: Int?

        /// Creates a request.
        public init(bytes: Int, bytesPerSecond: Int? = nil) {
            self.bytes = bytes
            self.bytesPerSecond = bytesPerSecond
        }

        /// The request's file content.
        public var fileContent: String { bytesPerSecond.map { "\(bytes) \($0)\n" } ?? "\(bytes)\n" }
    }

    /// The tick interval a `serial-tick` file asks for, or nil when the text is not one.
    static func tickInterval(_ text: String?) -> Duration? {
        guard let text, let milliseconds = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)),
            tickRange.contains(milliseconds)
        else { return nil }
        return .milliseconds(milliseconds)
    }

    /// The burst a `serial-burst` file asks for, or nil when the text is not one.
    static func burst(_ text: String?) -> Burst? {
        guard let fields = text?.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }),
            (1...2).contains(fields.count), let bytes = Int(fields[0]), (1...maximumBurst).contains(bytes)
        else { return nil }
        guard fields.count == 2 else { return Burst(bytes: bytes) }
        guard let rate = Int(fields[1]), rate > 0 else { return nil }
        return Burst(bytes: bytes, bytesPerSecond: rate)
    }

    /// The tick line number `count` of server `name`.
    static func tickLine(name: String, count: Int) -> String { "\(name) tick \(count)\r\n" }

    /// Bytes `offset ..< offset + count` of a burst of server `name`: lines of exactly
    /// `burstLineLength` bytes, `lab-node-N burst 0000000000 ......` + CR LF, numbered from 0.
    static func burstBytes(name: String, offset: Int, count: Int) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(count)
        var position = offset
        while output.count < count {
            let line = burstLine(name: name, number: position / burstLineLength)
            let start = position % burstLineLength
            let take = min(burstLineLength - start, count - output.count)
            output += line[start..<start + take]
            position += take
        }
        return output
    }

    static func burstLine(name: String, number: Int) -> [UInt8] {
        let digits = String(number)
        let head = Array("\(name) burst \(String(repeating: "0", count: max(0, 10 - digits.count)))\(digits) ".utf8)
        let body = burstLineLength - 2
        return Array(head.prefix(body)) + Array(repeating: UInt8(ascii: "."), count: max(0, body - head.count)) + [0x0d, 0x0a]
    }

    /// Writes `content` to `directory/name` through a temporary file and a rename, so the lab
    /// never reads half a request.
    static func writeRequest(_ content: String, named name: String, in directory: String) throws(LabError) {
        let path = directory + "/" + name
        let temporary = path + ".\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .system(call: "open \(temporary)", errno: errno) }
        let bytes = Array(content.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let writeError = errno
        close(fd)
        guard written == bytes.count else {
            unlink(temporary)
            throw .system(call: "write \(temporary)", errno: written < 0 ? writeError : EIO)
        }
        guard rename(temporary, path) == 0 else {
            let renameError = errno
            unlink(temporary)
            throw .system(call: "rename \(temporary)", errno: renameError)
        }
    }
}
