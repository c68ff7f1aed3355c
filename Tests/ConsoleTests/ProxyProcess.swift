import ChildProcesses
import Foundation
import IronicTesting
import Synchronization
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

@testable import Lab

/// A real `ironic-ipmiproxy serve` process on 127.0.0.1:`port`, which a test can kill and start
/// again at the same URL. Only the process this object started is ever signalled, by its PID.
final class ProxyProcess: @unchecked Sendable {
    let port: Int
    let token: String
    let directory: URL
    /// Console ports of its own, so a restored console can get its old port back: 20 ports in
    /// 15000–19999 that no other proxy of this test process hands out (the local proxies of test
    /// servers hand out ports from 10000 up, ConsolePowerPollingTests' from 12000 up).
    let portRange: String = {
        let base = 15000 + ProxyPortRanges.next() * 20
        return "\(base):\(base + 19)"
    }()
    /// `[ipmiproxy] restart_backoff`, in seconds.
    let restartBackoff: Double
    private let lock = NSLock()
    private var process: ChildProcess?

    init(port: Int, token: String, directory: URL, restartBackoff: Double = 0.2) {
        self.port = port
        self.token = token
        self.directory = directory
        self.restartBackoff = restartBackoff
    }

    /// `http://127.0.0.1:PORT`.
    var url: String { "http://127.0.0.1:\(port)" }

    /// The daemon's PID while it runs.
    var pid: Int32? { lock.withLock { process.flatMap { $0.isRunning ? $0.pid : nil } } }

    /// The built `ironic-ipmiproxy`, next to the `ironic` the console tests use.
    static var executable: String {
        ProcessInfo.processInfo.environment["IRONIC_IPMIPROXY_BIN"] ?? "\(ConsoleAPITests.workerArguments())/ironic-ipmiproxy"
    }

    /// Starts the daemon and waits (bounded) until `/healthz` answers.
    func start(timeout: Duration = .seconds(30)) async throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("ipmiproxy.conf")
        try """
        [ipmiproxy]
        host_ip = 127.0.0.1
        port = \(port)
        auth_token = \(token)
        port_range = \(portRange)
        sol_session_timeout = 10
        sol_keepalive = 4
        restart_backoff = \(restartBackoff)

        """.write(to: config, atomically: true, encoding: .utf8)
        let logPath = directory.appendingPathComponent("ipmiproxy.log").path
        if !FileManager.default.fileExists(atPath: logPath) { FileManager.default.createFile(atPath: logPath, contents: nil) }
        let process = try ChildProcess(Self.executable, ["serve", "--config-file", config.path], output: .file(logPath))
        lock.withLock { self.process = process }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw ProxyProcessError("ironic-ipmiproxy exited: \(logTail())") }
            if await healthy() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ProxyProcessError("ironic-ipmiproxy did not answer /healthz within \(timeout): \(logTail())")
    }

    /// Sends `signal` to the daemon's PID and waits (bounded) until it has exited.
    func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(30)) async throws {
        guard let process = lock.withLock({ self.process }), process.isRunning else { return }
        process.signal(signal)
        let exited = try await onOwnThread("proxy-process-wait") { () -> Bool in
            let deadline = ContinuousClock.now + timeout
            while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
            return !process.isRunning
        }
        if !exited {
            process.signal(SIGKILL)
            throw ProxyProcessError("ironic-ipmiproxy (pid \(process.pid)) did not exit on signal \(signal)")
        }
    }

    private func healthy() async -> Bool {
        guard let url = URL(string: "\(url)/healthz") else { return false }
        var request = URLRequest(url: url)
        request.timeoutInterval = 2
        guard let (_, response) = try? await URLSession.shared.data(for: request) else { return false }
        return (response as? HTTPURLResponse)?.statusCode == 200
    }

    /// The end of the daemon's log, for failure messages.
    func logTail() -> String {
        let text = (try? String(contentsOf: directory.appendingPathComponent("ipmiproxy.log"), encoding: .utf8)) ?? ""
        return String(text.suffix(3000))
    }

    /// A free loopback port below the console ports of proxies (10000 up) and labs (20001 up)
    /// and the kernel's ephemeral range, so no later `bind(0)` is handed it while the daemon is down.
    static func freePort() -> Int {
        for _ in 0..<200 {
            let candidate = Int.random(in: 7000..<10000)
            if POSIX.isFree(port: candidate, type: POSIX.streamType) { return candidate }
        }
        return 0
    }
}

/// The 250 ranges of 20 ports that `ProxyProcess`es use, handed out in turn from a random
/// start, so no two proxies of one test process share a range.
enum ProxyPortRanges {
    private static let counter = Mutex(Int.random(in: 0..<250))

    static func next() -> Int {
        counter.withLock { value in
            defer { value = (value + 1) % 250 }
            return value
        }
    }
}

/// Whether a process exists (a zombie counts as gone).
func processRuns(_ pid: Int) -> Bool {
    guard pid > 0, kill(pid_t(pid), 0) == 0 else { return false }
    let status = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    return !status.contains(") Z ")
}

/// A failure of the proxy process helper.
struct ProxyProcessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body` with `count` running `ironic-ipmiproxy` processes sharing one token, each on
/// ports of its own; stops them afterwards, and on failure records their log tails.
func withProxyProcesses(
    _ count: Int, name: String, restartBackoff: Double = 0.2, _ body: ([ProxyProcess]) async throws -> Void
) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ipmiproxy-\(name)-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let token = "\(name)-\(UUID().uuidString.prefix(8))"
    let proxies = (0..<count).map {
        ProxyProcess(
            port: ProxyProcess.freePort(), token: token, directory: directory.appendingPathComponent("proxy-\($0)"),
            restartBackoff: restartBackoff)
    }
    do {
        for proxy in proxies { try await proxy.start() }
        try await body(proxies)
        for proxy in proxies { try await proxy.stop() }
    } catch {
        for proxy in proxies {
            try? await proxy.stop(signal: SIGKILL)
            Issue.record("proxy log: \(proxy.logTail())")
        }
        throw error
    }
}

/// An `ironic standalone` test server whose `ipmi-proxy` consoles go to `proxies`; the
/// periodic tasks that would act on their own are off, so tests run reconcile passes themselves
/// unless they give `reconcileInterval`.
func consoleTestServer(proxies: [ProxyProcess], reconcileInterval: Duration = .zero) async throws -> TestServer {
    try await TestServer.start { config in
        config.drivers.enabledHardwareTypes = ["fake-hardware", "ipmi"]
        config.conductor.syncPowerStateInterval = .zero
        config.conductor.hardwareEventPollInterval = .zero
        config.conductor.consoleReconcileInterval = reconcileInterval
        config.document.set("ipmi", "console_proxy_urls", proxies.map(\.url).joined(separator: ","))
        config.document.set("ipmi", "console_proxy_auth_token", proxies[0].token)
    }
}
