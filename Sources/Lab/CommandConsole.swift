import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A client for ipmi_sim's command console (`console ADDR PORT` in lan.conf): a telnet-like
/// TCP prompt (`> `) that runs ipmi_sim_cmd(5) commands such as `sel_add` and
/// `sensor_set_value`. Unauthenticated, hence loopback only. Blocking; bounded by `timeout`.
enum CommandConsole {
    /// Runs `commands` one after another on one connection; returns each command's output
    /// (without echo and prompt).
    ///
    /// - Throws: `LabError.console` when the console does not answer in time or a command's
    ///   output starts with ipmi_sim's error marker `**`.
    static func run(_ commands: [String], port: Int, name: String, timeout: Duration = .seconds(3)) throws(LabError) -> [String] {
        for command in commands where command.contains(where: \.isNewline) || command.utf8.count > 1000 {
            throw .console(name: name, message: "a command must be one line of at most 1000 bytes: \(command.prefix(80))")
        }
        let deadline = ContinuousClock.now + timeout
        let fd: Int32
        do {
            fd = try POSIX.connectTCP(port: port, timeout: timeout)
        } catch {
            throw .console(name: name, message: "cannot connect to 127.0.0.1:\(port): \(error)")
        }
        defer { close(fd) }  // never `quit`: that ends the simulator, not the session
        _ = try readUntilPrompt(fd, deadline: deadline, name: name)
        var outputs: [String] = []
        for command in commands {
            do {
                try POSIX.sendAll(fd, Array((command + "\n").utf8), deadline: deadline)
            } catch {
                throw .console(name: name, message: "cannot send `\(command)`: \(error)")
            }
            let reply = try readUntilPrompt(fd, deadline: deadline, name: name)
            let output = strippingEcho(of: command, from: reply)
            if output.hasPrefix("**") {
                throw .console(name: name, message: "`\(command)` failed: \(output.dropFirst(2))")
            }
            outputs.append(output)
        }
        return outputs
    }

    /// Reads until the console's `> ` prompt ends the data (at most 64 KiB).
    static func readUntilPrompt(_ fd: Int32, deadline: ContinuousClock.Instant, name: String) throws(LabError) -> String {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while received.count < 64 * 1024 {
            if received.count >= 2, received.suffix(2) == [0x3e, 0x20] { break }
            let left = deadline - .now
            guard left > .zero, POSIX.waitFor(fd, events: Int16(POLLIN), timeout: left) else {
                throw .console(name: name, message: "no prompt within the timeout (is the BMC frozen?)")
            }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { throw .console(name: name, message: "connection closed") }
            if count < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { continue }
                throw .console(name: name, message: "read failed: errno \(errno)")
            }
            received += buffer[0..<count]
        }
        return String(decoding: withoutTelnetCommands(received.dropLast(2)), as: UTF8.self)
    }

    /// Drops telnet negotiation (IAC WILL/WONT/DO/DONT x, and other IAC pairs).
    static func withoutTelnetCommands(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if bytes[index] == 0xff {
                let next = index + 1 < bytes.endIndex ? bytes[index + 1] : 0
                index += (0xfb...0xfe).contains(next) ? 3 : 2
                continue
            }
            output.append(bytes[index])
            index += 1
        }
        return output
    }

    static func strippingEcho(of command: String, from reply: String) -> String {
        var text = Substring(reply)
        if let range = text.range(of: command) { text = text[range.upperBound...] }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
