import ChildProcesses
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Runs FreeIPMI's `ipmipower --stat` across the lab's BMCs and times the whole process: the
/// practical floor for "read the power state of every BMC" on this machine.
///
/// The command line matches what the ipmi nodes use: IPMI 2.0 (`-D LAN_2_0`; ipmipower's own
/// default is IPMI 1.5), ADMINISTRATOR privilege (`-l ADMIN`; its default is OPERATOR), the
/// `opensesspriv` workaround ipmi_sim needs, cipher suite 3 (the default of both), and the
/// benchmark's session timeout. Everything else, including the fanout and the 400 ms
/// retransmission timeout, is ipmipower's default (a shorter retransmission timeout makes
/// most of 200 BMCs miss the session timeout here; `-F` 16, 64 or 200 was no faster).
struct IPMIPowerRunner: Sendable {
    /// The `ipmipower` executable.
    let executable: String
    /// `host:port` of every BMC, in lab order.
    let hosts: [String]
    let username: String
    let password: String
    let sessionTimeout: Duration
    /// Where ipmipower's output is kept (overwritten on every run).
    let outputDirectory: URL
    /// Tracks the running process so a signal can end it.
    let children: ChildProcesses

    /// One run: wall time and what ipmipower printed.
    struct Run: Sendable {
        /// From just before the spawn until the process had exited.
        var seconds: Double
        /// From just before the spawn until the last `on`/`off` line arrived (nil without one).
        var lastAnswerSeconds: Double?
        var exitStatus: Int32
        /// Lines that report `on` or `off`.
        var powerLines: Int
        /// Every other non-empty line (timeouts, errors; standard error is merged in).
        var otherLines: [String]
    }

    /// The arguments after the executable.
    var arguments: [String] {
        [
            "-D", "LAN_2_0", "-l", "ADMIN", "-u", username, "-p", password, "-W", "opensesspriv",
            "--session-timeout", String(Self.milliseconds(sessionTimeout)), "-h", hosts.joined(separator: ","), "--stat",
        ]
    }

    /// The command line to print (the host list shortened).
    var displayCommand: String {
        var shown = arguments
        if let index = shown.firstIndex(of: "-h"), hosts.count > 2 {
            shown[index + 1] = "\(hosts[0]),...(\(hosts.count) BMCs)"
        }
        if let index = shown.firstIndex(of: "-p") { shown[index + 1] = "******" }
        return ([executable] + shown).joined(separator: " ")
    }

    /// Runs ipmipower once. It is killed (and the run fails) if it is still running after the
    /// session timeout plus `grace`.
    func run(grace: Duration = .seconds(60)) async throws -> Run {
        // Standard output and error through one pipe, read as they come: ipmipower prints each
        // BMC's state when it has it, so the arrival times show when the BMCs that answer were done.
        let clock = ContinuousClock()
        let start = clock.now
        let child: ChildProcess
        do {
            child = try ChildProcess(executable, arguments)
        } catch {
            throw BenchError("cannot start \(executable): \(error)")
        }
        let pid = child.pid
        children.add(pid)
        let reader = PipeReader(child.output!.fileDescriptor)
        // Bounded: an ipmipower that hangs is killed by its PID; its exit ends both waits.
        let limit = sessionTimeout + grace
        let killer = Task { [children] in
            try await Task.sleep(for: limit)
            children.send(SIGKILL, to: pid)
        }
        // The exit time is taken on a thread of its own as soon as waitpid returns.
        let exited = AsyncStream<(status: Int32, at: ContinuousClock.Instant)>.makeStream(bufferingPolicy: .bufferingNewest(1))
        Thread.detachNewThread {
            let status = child.waitUntilExit()
            exited.continuation.yield((status, clock.now))
            exited.continuation.finish()
        }
        var end = clock.now
        var status: Int32 = -1
        for await exit in exited.stream {
            (status, end) = (exit.status, exit.at)
            break
        }
        let output = await reader.wait()
        killer.cancel()
        children.remove(pid)
        if status >= 128 {
            throw BenchError("ipmipower was killed by signal \(status - 128) (still running after the session timeout plus \(grace))")
        }
        let text = String(decoding: output.flatMap(\.bytes), as: UTF8.self)
        try? Data(text.utf8).write(to: outputDirectory.appendingPathComponent("ipmipower.out"))

        // Each line is stamped with the arrival of the chunk that ended it.
        var power = 0
        var other: [String] = []
        var lastAnswer: ContinuousClock.Instant?
        var pending: [UInt8] = []
        for chunk in output {
            for byte in chunk.bytes {
                guard byte == UInt8(ascii: "\n") else {
                    pending.append(byte)
                    continue
                }
                let line = String(decoding: pending, as: UTF8.self).trimmingCharacters(in: .whitespaces)
                pending.removeAll(keepingCapacity: true)
                if Self.isPowerState(line) {
                    power += 1
                    lastAnswer = chunk.arrived
                } else if !line.isEmpty {
                    other.append(line)
                }
            }
        }
        let rest = String(decoding: pending, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        if !rest.isEmpty { other.append(rest) }
        return Run(
            seconds: Self.seconds(start.duration(to: end)),
            lastAnswerSeconds: lastAnswer.map { Self.seconds(start.duration(to: $0)) }, exitStatus: status, powerLines: power,
            otherLines: other)
    }

    /// "HOST: on" or "HOST: off".
    static func isPowerState(_ line: String) -> Bool {
        line.hasSuffix(": on") || line.hasSuffix(": off")
    }

    /// `ipmipower --version`'s first line, e.g. "ipmipower - 1.6.10".
    func version() -> String {
        guard let (status, output) = try? ChildProcess.run(executable, ["--version"], timeout: .seconds(10)), status == 0 else {
            return "unknown"
        }
        return output.split(separator: "\n").first.map(String.init) ?? "unknown"
    }

    /// Finds `ipmipower` on `PATH`, then in `/usr/sbin` and `/usr/local/sbin` (Debian installs it
    /// in `/usr/sbin`, which is not on every user's `PATH`).
    static func find(_ explicit: String?) throws -> String {
        let manager = FileManager.default
        if let explicit {
            guard manager.isExecutableFile(atPath: explicit) else { throw BenchError("\(explicit) is not an executable") }
            return explicit
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/local/sbin", "/usr/bin"]
        for directory in directories where !directory.isEmpty {
            let candidate = directory + "/ipmipower"
            if manager.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw BenchError("ipmipower not found (Debian package freeipmi-tools); give its path with --ipmipower")
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// Reads a file descriptor to its end on a thread of its own (a blocking read never runs on the
/// cooperative pool), noting when each chunk arrived.
final class PipeReader: Sendable {
    /// Bytes as one `read` returned them, with the time it returned.
    struct Chunk: Sendable {
        var arrived: ContinuousClock.Instant
        var bytes: [UInt8]
    }

    private let chunks = Mutex<[Chunk]>([])
    private let finished = AsyncStream<Void>.makeStream()

    /// Starts reading `descriptor`; the caller keeps it open until `wait()` returns.
    init(_ descriptor: Int32) {
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 16_384)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                let chunk = Chunk(arrived: ContinuousClock.now, bytes: Array(buffer[0..<count]))
                chunks.withLock { $0.append(chunk) }
            }
            finished.continuation.finish()
        }
    }

    /// Waits for the end of the data (the writer closed its end) and returns every chunk.
    func wait() async -> [Chunk] {
        for await _ in finished.stream {}
        return chunks.withLock { $0 }
    }
}
