import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Sets a simulated BMC's SEL clock to the wall clock.
///
/// ipmi_sim's SEL clock starts at the host's uptime, so without this every SEL record is
/// stamped "post-init" (a time before the clock was set), and `sel_add` ignores the timestamp
/// it is given. A real BMC's clock is set (by the BIOS or NTP); the lab sets it with Set SEL
/// Time over a minimal IPMI 1.5 session (authentication type "none", which the lab's
/// `lan.conf` allows), the way a BIOS would.
enum SELClock {
    /// Opens a session as `username`, sets the SEL time to `date`, closes the session.
    static func set(port: Int, username: String, to date: Date = Date(), timeout: Duration = .seconds(2)) throws(LabError) {
        let fd = try POSIX.socket(type: POSIX.datagramType)
        defer { close(fd) }
        guard POSIX.bind(fd, port: 0) == 0 else { throw .system(call: "bind", errno: errno) }
        var exchange = Exchange(fd: fd, port: port, deadline: .now + timeout)

        let name = Array(username.utf8.prefix(16)) + Array(repeating: 0, count: 16 - min(16, username.utf8.count))
        let challenge = try exchange.request(netFn: 0x06, command: 0x39, data: [0x00] + name)
        guard challenge.count >= 20 else { throw failure(port, "short Get Session Challenge answer") }
        exchange.sessionID = Array(challenge[0..<4])
        let activated = try exchange.request(
            netFn: 0x06, command: 0x3a, data: [0x00, 0x04] + challenge[4..<20] + [0x01, 0x00, 0x00, 0x00])
        guard activated.count >= 9 else { throw failure(port, "short Activate Session answer") }
        exchange.sessionID = Array(activated[1..<5])
        exchange.sequence = UInt32(activated[5]) | UInt32(activated[6]) << 8 | UInt32(activated[7]) << 16 | UInt32(activated[8]) << 24
        defer { _ = try? exchange.request(netFn: 0x06, command: 0x3c, data: exchange.sessionID) }
        _ = try exchange.request(netFn: 0x06, command: 0x3b, data: [0x04])
        let seconds = UInt32(truncatingIfNeeded: Int(date.timeIntervalSince1970))
        _ = try exchange.request(netFn: 0x0a, command: 0x49, data: (0..<4).map { UInt8(truncatingIfNeeded: seconds >> (8 * $0)) })
    }

    static func failure(_ port: Int, _ message: String) -> LabError {
        .serverDidNotStart(name: "127.0.0.1:\(port)", reason: "setting the SEL clock: \(message)", log: "")
    }

    /// Request/response over IPMI 1.5 without authentication codes.
    struct Exchange {
        let fd: Int32
        let port: Int
        let deadline: ContinuousClock.Instant
        var sessionID: [UInt8] = [0, 0, 0, 0]
        var sequence: UInt32 = 0
        var requestSequence: UInt8 = 0

        /// Sends one request, resending every 250 ms, and returns the response data after a
        /// zero completion code.
        mutating func request(netFn: UInt8, command: UInt8, data: [UInt8]) throws(LabError) -> [UInt8] {
            requestSequence = (requestSequence + 1) & 0x3f
            let header: [UInt8] = [0x20, netFn << 2]
            let body: [UInt8] = [0x81, requestSequence << 2, command] + data
            let message = header + [checksum(header)] + body + [checksum(body)]
            var packet: [UInt8] = [0x06, 0x00, 0xff, 0x07, 0x00]
            packet += (0..<4).map { UInt8(truncatingIfNeeded: sequence >> (8 * $0)) }
            packet += sessionID
            packet.append(UInt8(message.count))
            packet += message
            if sequence != 0 { sequence &+= 1 }

            var buffer = [UInt8](repeating: 0, count: 512)
            while ContinuousClock.now < deadline {
                send(packet)
                let resend = min(deadline, .now + .milliseconds(250))
                while ContinuousClock.now < resend {
                    guard POSIX.waitFor(fd, events: Int16(POLLIN), timeout: resend - .now) else { break }
                    let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                    // RMCP, IPMI class, no auth; rqSeq and command match.
                    guard count >= 21, buffer[0] == 0x06, buffer[3] == 0x07, buffer[4] == 0x00,
                        buffer[18] >> 2 == requestSequence, buffer[19] == command
                    else { continue }
                    guard buffer[20] == 0x00 else {
                        throw SELClock.failure(port, "command 0x\(String(command, radix: 16)) answered 0x\(String(buffer[20], radix: 16))")
                    }
                    return Array(buffer[21..<(count - 1)])
                }
            }
            throw SELClock.failure(port, "no answer to command 0x\(String(command, radix: 16))")
        }

        func checksum(_ bytes: [UInt8]) -> UInt8 {
            0 &- bytes.reduce(0, &+)
        }

        func send(_ packet: [UInt8]) {
            var address = POSIX.loopbackAddress(port: port)
            _ = packet.withUnsafeBytes { bytes in
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, bytes.baseAddress, bytes.count, POSIX.sendFlags, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
        }
    }
}
