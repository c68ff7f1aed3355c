import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Checks that simulated BMCs answer a real IPMI request: an unauthenticated IPMI 1.5
/// Get Channel Authentication Capabilities, which needs no session and costs ipmi_sim little.
///
/// One UDP socket probes any number of BMCs at once, resending every 250 ms to those that
/// have not answered yet.
enum BMCProbe {
    /// RMCP (IPMI class) + IPMI 1.5 session header without authentication + the request
    /// (rsAddr 0x20, NetFn App, rqAddr 0x81, cmd 0x38, channel "this one" with the IPMI 2.0
    /// bit, privilege Administrator).
    static let request: [UInt8] = [
        0x06, 0x00, 0xff, 0x07,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x09,
        0x20, 0x18, 0xc8, 0x81, 0x00, 0x38, 0x8e, 0x04, 0xb5,
    ]

    /// Whether `packet` is a successful Get Channel Authentication Capabilities response.
    static func isAnswer(_ packet: ArraySlice<UInt8>) -> Bool {
        let bytes = Array(packet)
        return bytes.count >= 21 && bytes[0] == 0x06 && bytes[3] == 0x07 && bytes[19] == 0x38 && bytes[20] == 0x00
    }

    /// Probes `ports` until each answers, `giveUp(port)` says to stop trying it (its process
    /// died), or `deadline` passes; returns the ports that answered.
    static func waitForAnswers(
        ports: Set<Int>, deadline: ContinuousClock.Instant,
        giveUp: (Int) -> Bool = { _ in false }
    ) throws(LabError) -> Set<Int> {
        guard !ports.isEmpty else { return [] }
        let fd = try POSIX.socket(type: POSIX.datagramType)
        defer { close(fd) }
        guard POSIX.bind(fd, port: 0) == 0 else { throw .system(call: "bind", errno: errno) }

        var pending = ports
        var answered: Set<Int> = []
        var buffer = [UInt8](repeating: 0, count: 512)
        var nextSend = ContinuousClock.now
        var nextGiveUpCheck = ContinuousClock.now + .milliseconds(200)
        while !pending.isEmpty, ContinuousClock.now < deadline {
            if ContinuousClock.now >= nextSend {
                for port in pending { sendRequest(fd, port: port) }
                nextSend = .now + .milliseconds(250)
            }
            if ContinuousClock.now >= nextGiveUpCheck {
                pending = pending.filter { !giveUp($0) }
                nextGiveUpCheck = .now + .milliseconds(200)
            }
            guard POSIX.waitFor(fd, events: Int16(POLLIN), timeout: .milliseconds(50)) else { continue }
            // Drain what arrived; bounded by the socket buffer, and by 4,096 reads a round.
            for _ in 0..<4096 {
                var source = sockaddr_in()
                var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                let count = buffer.withUnsafeMutableBytes { raw in
                    withUnsafeMutablePointer(to: &source) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            recvfrom(fd, raw.baseAddress, raw.count, 0, $0, &length)
                        }
                    }
                }
                guard count > 0 else { break }
                let port = Int(UInt16(bigEndian: source.sin_port))
                if isAnswer(buffer[0..<count]), pending.remove(port) != nil {
                    answered.insert(port)
                }
            }
        }
        return answered
    }

    private static func sendRequest(_ fd: Int32, port: Int) {
        var address = POSIX.loopbackAddress(port: port)
        _ = request.withUnsafeBytes { bytes in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, POSIX.sendFlags, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }
}
