import Foundation

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
/// benchmark's session timeout. Everything else, including the fanout (all hosts at once) and
/// the 400 ms retransmission timeout, is ipmipower's default.
struct IPMIPowerRunner: Sendable {
    /// The `ipmipower` executable.
    let executable: String
    /// `host:port` of every BMC, in lab order.
    let hosts: [String]
    let username: String
    let password: String
    let sessionTimeout: Duration
    /// Where ipmipower's output goes (overwritten on every run).
    let outputDirectory: URL
    /// Tracks the running process so a signal can end it.
    let children: ChildProcesses

    /// One run: wall time and what ipmipower printed.
    struct Run: Sendable {
        /// From just before the spawn until the process had exited.
        var seconds: Double
        var exitStatus: Int32
        /// Lines that report `on` or `off`.
        var powerLines: Int
        /// Every other non-empty line (timeouts, errors).
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
        let stdoutURL = outputDirectory.appendingPathComponent("ipmipower.out")
        let stderrURL = outputDirectory.appendingPathComponent("ipmipower.err")
        for url in [stdoutURL, stderrURL] {
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw BenchError("cannot create \(url.path)")
            }
        }
        let stdout = try FileHandle(forWritingTo: stdoutURL)
        let stderr = try FileHandle(forWritingTo: stderrURL)
        defer {
            try? stdout.close()
            try? stderr.close()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout
        process.standardError = stderr

        // The exit time is taken in the termination handler; the stream buffers it.
        let clock = ContinuousClock()
        let exited = AsyncStream<ContinuousClock.Instant>.makeStream(bufferingPolicy: .bufferingNewest(1))
        process.terminationHandler = { _ in
            exited.continuation.yield(clock.now)
            exited.continuation.finish()
        }
        let start = clock.now
        do {
            try process.run()
        } catch {
            throw BenchError("cannot start \(executable): \(error)")
        }
        let pid = process.processIdentifier
        children.add(pid)
        // Bounded: an ipmipower that hangs is killed by its PID, and its exit ends the wait.
        let limit = sessionTimeout + grace
        let killer = Task { [children] in
            try await Task.sleep(for: limit)
            children.signal(pid, SIGKILL)
        }
        var end = clock.now
        for await instant in exited.stream {
            end = instant
            break
        }
        killer.cancel()
        children.remove(pid)
        let status = process.terminationStatus
        if process.terminationReason == .uncaughtSignal {
            throw BenchError("ipmipower was killed by signal \(status) (still running after the session timeout plus \(grace))")
        }
        let text = (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? ""
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let power = lines.filter { $0.hasSuffix(": on") || $0.hasSuffix(": off") }
        var other = lines.filter { !($0.hasSuffix(": on") || $0.hasSuffix(": off")) }
        let errors = ((try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        other += errors.filter { !$0.isEmpty }.map { "stderr: \($0)" }
        return Run(seconds: Self.seconds(start.duration(to: end)), exitStatus: status, powerLines: power.count, otherLines: other)
    }

    /// `ipmipower --version`'s first line, e.g. "ipmipower - 1.6.10".
    func version() -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return "unknown" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? "unknown"
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
