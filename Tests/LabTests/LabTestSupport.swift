import ChildProcesses
import Foundation
import Testing

@testable import Lab

/// A fresh directory under the system temporary directory (not created: the lab creates it).
func temporaryLabDirectory() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("lab-tests-\(UUID().uuidString.prefix(8))")
}

/// An empty directory for FreeIPMI's SDR cache (it must exist; the default one under ~/.freeipmi
/// is keyed by host:port, which labs reuse).
func sdrCacheDirectory() throws -> URL {
    let url = temporaryLabDirectory()
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Starts a lab of `count` servers on free ports in a temporary directory, runs `body`, and
/// stops the lab whatever happens.
func withLab<T>(count: Int = 2, bootLog: Bool = true, _ body: (Lab) async throws -> T) async throws -> T {
    try await Lab.withTemporaryLab(count: count, configure: { configuration in
        configuration.bootLog = bootLog
        configuration.startTimeout = .seconds(20)
    }, body)
}

/// The output (stdout and stderr together) and exit status of a command-line tool.
struct ToolResult: Sendable {
    var status: Int32
    var output: String
}

/// Runs `tool` (looked up in PATH) and kills it after `timeout`.
func run(_ tool: String, _ arguments: [String], timeout: Duration = .seconds(20)) async throws -> ToolResult {
    let (status, output) = try await ChildProcess.run(tool, arguments, timeout: timeout)
    return ToolResult(status: status, output: output)
}

/// FreeIPMI's common options for a lab server: `host:port`, credentials, `opensesspriv`.
func freeIPMIOptions(_ lab: Lab, _ server: SimulatedServer, sessionTimeout: Duration? = nil) -> [String] {
    var options = ["-h", "127.0.0.1:\(server.bmcPort)", "-u", lab.username, "-p", lab.password, "-W", "opensesspriv"]
    if let sessionTimeout {
        options += ["--session-timeout=\(sessionTimeout.milliseconds)", "--retransmission-timeout=250"]
    }
    return options
}

/// Polls `condition` every 50 ms for up to `timeout`.
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return condition()
}

/// A TCP client of a serial port that collects what it reads.
final class SerialClient: @unchecked Sendable {
    let fd: Int32
    private(set) var received = ""

    init(port: Int) throws {
        fd = try POSIX.connectTCP(port: port, timeout: .seconds(2))
    }

    deinit { close(fd) }

    /// Reads until `text` has arrived after the first `offset` characters (true) or `timeout`
    /// passes (false).
    func read(until text: String, after offset: Int = 0, timeout: Duration = .seconds(10)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !received.dropFirst(offset).contains(text) {
            let left = deadline - .now
            guard left > .zero, POSIX.waitFor(fd, events: Int16(POLLIN), timeout: left) else { return false }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return false }
            if count > 0 { received += String(decoding: buffer[0..<count], as: UTF8.self) }
        }
        return true
    }

    /// `read(until:timeout:)` on a thread of its own.
    func waitFor(_ text: String, after offset: Int = 0, timeout: Duration = .seconds(10)) async -> Bool {
        (try? await onOwnThread("lab-test-serial") { self.read(until: text, after: offset, timeout: timeout) }) ?? false
    }

    func send(_ text: String) throws {
        try POSIX.sendAll(fd, Array(text.utf8), deadline: .now + .seconds(2))
    }
}

/// An interactive tool under a pseudo-terminal (`script`), driven expect-style: wait for what
/// it prints, then type. Waiting for output instead of sleeping keeps the test correct on a
/// loaded machine, where SOL can take several seconds to come up.
final class InteractiveTerminal: @unchecked Sendable {
    private let process: ChildProcess
    private let lock = NSLock()
    private var bytes = Data()

    init(_ command: String) throws {
        process = try ChildProcess("/usr/bin/script", ["-qc", command, "/dev/null"], input: .pipe, output: .pipe)
        process.output?.readabilityHandler = { [weak self] handle in
            let chunk = handle.availableData
            guard let self, !chunk.isEmpty else { return }
            self.lock.withLock { self.bytes.append(chunk) }
        }
    }

    /// Everything printed so far.
    var printed: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }

    /// Waits until `text` has been printed (true) or `timeout` passes (false).
    func waitFor(_ text: String, timeout: Duration = .seconds(30)) async -> Bool {
        await eventually(timeout: timeout) { printed.contains(text) }
    }

    func type(_ text: String) {
        process.input?.write(Data(text.utf8))
    }

    /// Waits up to `timeout` for the tool to exit, then terminates it; returns what it printed.
    func finish(timeout: Duration = .seconds(10)) async -> String {
        _ = await eventually(timeout: timeout) { !process.isRunning }
        process.terminate(grace: .seconds(2))
        process.output?.readabilityHandler = nil
        try? process.input?.close()
        return printed
    }
}
