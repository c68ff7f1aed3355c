import ChildProcesses
import ConsoleProxy
import ConsoleProxyAPI
import Core
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import Lab

/// The worker executable next to the test bundle (`swift build --build-tests` builds it).
func workerExecutable() -> String {
    if let path = ProcessInfo.processInfo.environment["IRONIC_IPMIPROXY_BIN"] { return path }
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var directory = URL(fileURLWithPath: me).deletingLastPathComponent()
    // The test bundle may be a directory (.xctest) holding the binary.
    for _ in 0..<3 {
        let candidate = directory.appendingPathComponent("ironic-ipmiproxy").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    return ".build/debug/ironic-ipmiproxy"
}

/// A port range of 40 ports no other test in this process uses.
func freshPortRange() -> ClosedRange<Int> {
    let slot = PortSlots.next.withLock { value in
        defer { value += 1 }
        return value
    }
    // Below 61040 whatever the PID and however many proxies a run starts.
    let base = 21000 + ((Int(getpid()) % 50) * 200 + (slot % 5) * 40 + (slot / 5) * 10000) % 40000
    return base...(base + 39)
}

enum PortSlots {
    static let next = Mutex(0)
}

/// A running proxy for one test.
struct ProxyHarness: Sendable {
    let server: ConsoleProxyServer
    let client: ConsoleProxyClient
    let port: Int

    /// Polls the console until `condition` holds (true) or `timeout` passes (false).
    func waitFor(
        _ id: String, timeout: Duration = .seconds(60), _ condition: @Sendable (ConsoleRecord) -> Bool
    ) async -> ConsoleRecord? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let record = try? await client.get(id), condition(record) { return record }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }
}

/// Runs `body` with a proxy on a free loopback port; stops it (and every worker) afterwards.
func withProxy<T: Sendable>(
    configure: (inout ProxyConfig) -> Void = { _ in }, _ body: (ProxyHarness) async throws -> T
) async throws -> T {
    var config = ProxyConfig()
    config.port = 0
    config.authStrategy = .token
    config.authToken = "test-token-\(UUID().uuidString.prefix(8))"
    config.portRange = freshPortRange()
    config.solSessionTimeout = .seconds(10)
    config.solKeepalive = .seconds(4)
    config.restartBackoff = .milliseconds(200)
    configure(&config)
    var logger = Logger(label: "proxy-test")
    logger.logLevel = .warning
    let server = ConsoleProxyServer(config: config, workerCommand: [workerExecutable(), "worker"], logger: logger)
    let group = ServiceGroup(configuration: .init(services: server.services.map { .init(service: $0) }, logger: logger))
    let running = Task { try await group.run() }
    let port = await server.listeningPort()
    let credentials: ProxyCredentials =
        switch config.authStrategy {
        case .token: .token(config.authToken!)
        case .httpBasic: .basic(username: config.httpBasicUsername!, password: config.httpBasicPassword!)
        case .noauth: .none
        }
    let harness = ProxyHarness(
        server: server, client: ConsoleProxyClient(baseURL: URL(string: "http://127.0.0.1:\(port)")!, credentials: credentials), port: port)
    do {
        let result = try await body(harness)
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        return result
    } catch {
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        throw error
    }
}

/// A lab of `count` servers for one test.
func withLab<T>(count: Int, _ body: (Lab) async throws -> T) async throws -> T {
    try await Lab.withTemporaryLab(count: count, configure: { $0.startTimeout = .seconds(30) }, body)
}

/// A console request for a lab server, with the lab's workarounds unless given.
func request(for lab: Lab, _ server: SimulatedServer, workarounds: String = Lab.ipmiWorkarounds, options: ConsoleOptions = ConsoleOptions())
    -> ConsoleRequest
{
    ConsoleRequest(
        nodeUUID: UUID().uuidString.lowercased(),
        bmc: BMCEndpoint(
            address: "127.0.0.1", port: server.bmcPort, username: lab.username, password: lab.password,
            workarounds: workarounds.split(separator: ",").map(String.init)),
        options: options)
}

/// Powers a lab server on with FreeIPMI's ipmipower.
func powerOn(_ lab: Lab, _ server: SimulatedServer) async throws {
    let result = try await runTool(
        "ipmipower", ["-h", "127.0.0.1:\(server.bmcPort)", "-u", lab.username, "-p", lab.password, "-W", "opensesspriv", "--on"])
    #expect(result.status == 0, "\(result.output)")
}

/// The output and exit status of a tool.
struct ToolResult: Sendable {
    var status: Int32
    var output: String
}

/// Runs `tool` from PATH and kills it after `timeout`.
func runTool(_ tool: String, _ arguments: [String], timeout: Duration = .seconds(30)) async throws -> ToolResult {
    let (status, output) = try await ChildProcess.run(tool, arguments, timeout: timeout)
    return ToolResult(status: status, output: output)
}

/// The TCP port of a `tcp://host:port` URL.
func tcpPort(_ url: String) -> Int { Int(url.split(separator: ":").last ?? "") ?? 0 }

/// A raw TCP client (what socat or nova's serial proxy is) that collects what it reads.
final class TCPViewer: @unchecked Sendable {
    let fd: Int32
    private let lock = NSLock()
    private var bytes: [UInt8] = []

    init(port: Int) throws {
        fd = try POSIX.connectTCP(port: port, timeout: .seconds(5))
    }

    deinit { close(fd) }

    var received: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }

    /// Reads until `text` appears after the first `offset` characters (true) or `timeout` passes.
    func waitFor(_ text: String, after offset: Int = 0, timeout: Duration = .seconds(60)) async -> Bool {
        (try? await onOwnThread("proxy-test-viewer") { self.read(until: text, after: offset, timeout: timeout) }) ?? false
    }

    private func read(until text: String, after offset: Int, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !received.dropFirst(offset).contains(text) {
            let left = deadline - .now
            guard left > .zero, POSIX.waitFor(fd, events: Int16(POLLIN), timeout: left) else { return false }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return false }
            if count > 0 { lock.withLock { bytes += buffer[0..<count] } }
        }
        return true
    }

    /// Whether the server ends the connection (end of stream or reset) within `timeout`;
    /// anything read before is kept.
    func waitForClose(timeout: Duration) async -> Bool {
        (try? await onOwnThread("proxy-test-viewer") { () -> Bool in
            let deadline = ContinuousClock.now + timeout
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let left = deadline - .now
                guard left > .zero, POSIX.waitFor(self.fd, events: Int16(POLLIN), timeout: left) else { return false }
                let count = buffer.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
                if count > 0 { self.lock.withLock { self.bytes += buffer[0..<count] } }
                if count == 0 || (count < 0 && errno != EINTR && errno != EAGAIN) { return true }
            }
        }) ?? false
    }

    func send(_ text: String) throws {
        try POSIX.sendAll(fd, Array(text.utf8), deadline: .now + .seconds(5))
    }

    /// Types `line` until its echo shows up (the lab's SOL loses the first keystroke of every
    /// other session, so one try may vanish); at most `attempts` tries.
    func typeUntilEchoed(_ line: String, attempts: Int = 5, timeout: Duration = .seconds(15)) async throws -> Bool {
        for _ in 0..<attempts {
            let offset = received.count
            try send("\r")
            try send(line + "\r")
            if await waitFor(line + "\r\n", after: offset, timeout: timeout) { return true }
        }
        return false
    }
}

/// Whether a process exists (and is not a zombie we have not reaped).
func processExists(_ pid: Int) -> Bool {
    guard pid > 0 else { return false }
    if kill(pid_t(pid), 0) != 0 { return false }
    let status = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    return !status.contains(") Z ")
}
