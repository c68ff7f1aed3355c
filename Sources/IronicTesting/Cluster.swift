import ChildProcesses
import Core
import Foundation
import Lab
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// A multi-process deployment for tests: one `ironic-api` and several `ironic-conductor`
/// processes on loopback, sharing one database, talking JSON-RPC. Every process is started
/// (and ended, by PID) by the test; each writes its log to the cluster's directory.
public final class Cluster: IronicAPIClient, @unchecked Sendable {
    /// The database the processes share.
    public enum Database: Sendable, CustomStringConvertible {
        /// A SQLite file in the cluster's directory.
        case sqlite
        /// A fresh database created on this PostgreSQL server (a superuser URL) and dropped
        /// when the cluster stops.
        case postgresql(server: String)

        public var description: String {
            switch self {
            case .sqlite: "SQLite"
            case .postgresql: "PostgreSQL"
            }
        }
    }

    /// `http://127.0.0.1:PORT` of the API process.
    public let baseURL: String
    /// Configuration files, logs and (for SQLite) the database.
    public let directory: URL
    /// `[database] connection` of every process.
    public let connection: String
    /// `[conductor] heartbeat_timeout`.
    public let heartbeatTimeout: Duration
    /// The cluster's own HTTP session.
    public let urlSession = URLSession(configuration: .ephemeral)
    private let database: Database
    private let commonConfig: String
    private let binaries: URL
    private let spawner = Spawner()
    private let lock = NSLock()
    private var processes: [String: pid_t] = [:]
    private var postgresDatabase: String?

    /// Starts `conductors` conductors and one API process. `config` is extra ironic.conf text
    /// every process reads (e.g. `[fake]` delays).
    public static func start(
        conductors: Int, database: Database, heartbeatTimeout: Duration = .seconds(6), config: String = ""
    ) async throws -> Cluster {
        let cluster = try Cluster(database: database, heartbeatTimeout: heartbeatTimeout, config: config)
        do {
            for _ in 0..<conductors { _ = try cluster.launchConductor() }
            try await cluster.waitUntilReachable()
            try await cluster.waitForConductors(count: conductors)
        } catch {
            await cluster.stop(keepDirectory: true)
            throw error
        }
        return cluster
    }

    private init(database: Database, heartbeatTimeout: Duration, config: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ironic-cluster-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.database = database
        self.heartbeatTimeout = heartbeatTimeout
        switch database {
        case .sqlite:
            connection = "sqlite:///\(directory.path)/ironic.sqlite"
        case .postgresql(let server):
            let name = "ironic_cluster_\(UUID().uuidString.prefix(8).lowercased())"
            try Self.psql(server, "CREATE DATABASE \(name)")
            postgresDatabase = name
            connection = Self.replacingDatabase(in: server, with: name)
        }
        binaries = try Self.binaryDirectory()
        commonConfig = """
            [DEFAULT]
            host = 127.0.0.1
            enabled_hardware_types = fake-hardware,ipmi
            rpc_transport = json-rpc
            [database]
            connection = \(connection)
            [json_rpc]
            username = ironic
            password = cluster-\(UUID().uuidString)
            [conductor]
            heartbeat_interval = 1
            heartbeat_timeout = \(heartbeatTimeout.components.seconds)
            automated_clean = false
            node_locked_retry_attempts = 1
            graceful_shutdown_timeout = 10
            [deploy]
            http_server_host =
            \(config)
            """
        let apiPort = try Self.freePort()
        baseURL = "http://127.0.0.1:\(apiPort)"
        try launch(name: "api", executable: "ironic-api", config: "[api]\nhost_ip = 127.0.0.1\nport = \(apiPort)\n")
    }

    /// Starts one more conductor; returns its hostname (`127.0.0.1:PORT`).
    @discardableResult
    public func launchConductor() throws -> String {
        let port = try Self.freePort()
        let hostname = "127.0.0.1:\(port)"
        try launch(name: hostname, executable: "ironic-conductor", config: "[json_rpc]\nhost_ip = 127.0.0.1\nport = \(port)\n")
        return hostname
    }

    /// Hostnames of the conductor processes this cluster runs.
    public var conductorHostnames: [String] {
        lock.withLock { processes.keys.filter { $0 != "api" }.sorted() }
    }

    /// Sends `signal` to a process (`SIGKILL`: dies on the spot; `SIGTERM`: graceful stop).
    public func signal(_ name: String, _ signal: Int32) async {
        guard let pid = lock.withLock({ processes[name] }) else { return }
        kill(pid, signal)
        if signal == SIGKILL { await reap(name, pid, timeout: .seconds(5)) }
    }

    /// Waits up to `timeout` for a process to exit; true when it did.
    @discardableResult
    public func waitForExit(_ name: String, timeout: Duration) async -> Bool {
        guard let pid = lock.withLock({ processes[name] }) else { return true }
        return await reap(name, pid, timeout: timeout)
    }

    @discardableResult
    /// Polls (never blocking a thread of the cooperative pool) until `pid` has exited.
    private func reap(_ name: String, _ pid: pid_t, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        repeat {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                lock.withLock { processes[name] = nil }
                return true
            }
            try? await Task.sleep(for: .milliseconds(20))
        } while ContinuousClock.now < deadline
        return false
    }

    /// The last lines of a process's log, for failure messages.
    public func log(_ name: String, lines: Int = 40) -> String {
        let text = (try? String(contentsOf: logURL(name), encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Waits until `GET /v1/conductors` lists `count` live conductors.
    public func waitForConductors(count: Int, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        var alive: Set<String> = []
        while ContinuousClock.now < deadline {
            alive = try await aliveConductors()
            if alive.count == count { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        let silent = conductorHostnames.filter { !alive.contains($0) }.map { "\($0): \(log($0, lines: 5))" }
        throw TestServerError.timedOut("expected \(count) live conductors, saw \(alive.count); not alive: \(silent.joined(separator: "\n"))")
    }

    /// Hostnames `GET /v1/conductors` shows as alive.
    public func aliveConductors() async throws -> Set<String> {
        let list = try await request("GET", "/v1/conductors").json()
        var alive: Set<String> = []
        for conductor in list["conductors"]?.arrayValue ?? [] where conductor["alive"] == .bool(true) {
            if let name = conductor["hostname"]?.stringValue { alive.insert(name) }
        }
        return alive
    }

    /// Ends every process (SIGTERM, then SIGKILL after 15 s), drops a PostgreSQL database,
    /// and removes the directory unless `keepDirectory`.
    public func stop(keepDirectory: Bool = false) async {
        let running = lock.withLock { processes }
        for (_, pid) in running { kill(pid, SIGTERM) }
        for (name, pid) in running where await !reap(name, pid, timeout: .seconds(15)) {
            kill(pid, SIGKILL)
            await reap(name, pid, timeout: .seconds(5))
        }
        spawner.stop()
        if case .postgresql(let server) = database, let name = postgresDatabase {
            try? Self.psql(server, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        }
        if !keepDirectory { try? FileManager.default.removeItem(at: directory) }
    }

    // MARK: Processes

    private func logURL(_ name: String) -> URL {
        directory.appendingPathComponent("\(name.replacingOccurrences(of: ":", with: "-")).log")
    }

    private func launch(name: String, executable: String, config: String) throws {
        let file = directory.appendingPathComponent("\(name.replacingOccurrences(of: ":", with: "-")).conf")
        try (commonConfig + "\n" + config).write(to: file, atomically: true, encoding: .utf8)
        let pid = try spawner.spawn(
            executable: binaries.appendingPathComponent(executable).path, arguments: ["--config-file", file.path],
            logPath: logURL(name).path)
        lock.withLock { processes[name] = pid }
    }

    private func waitUntilReachable(timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let response = try? await request("GET", "/"), response.status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestServerError.timedOut("ironic-api did not answer: \(log("api"))")
    }

    /// The directory holding `ironic-api` and `ironic-conductor`: `IRONIC_BUILD_DIR`, or the
    /// directory of the running test binary (SwiftPM puts both in the same place).
    public static func binaryDirectory() throws -> URL {
        var candidates: [URL] = []
        if let dir = ProcessInfo.processInfo.environment["IRONIC_BUILD_DIR"] { candidates.append(URL(fileURLWithPath: dir)) }
        let test = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        candidates += [test.deletingLastPathComponent(), test.deletingLastPathComponent().deletingLastPathComponent()]
        candidates.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".build/debug"))
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.appendingPathComponent("ironic-conductor").path) }) else {
            throw TestServerError.unexpected("ironic-conductor not found in \(candidates.map(\.path)); build it first (swift build)")
        }
        return found
    }

    /// A free TCP port on 127.0.0.1 for a process to listen on, picked above the kernel's
    /// ephemeral range (61000–65535 on Linux; the lab and the console proxy use ports below
    /// 32768): a port handed out for port 0 or an outgoing connection in the meantime cannot
    /// collide with it. A port is handed out once per test process, so two processes started
    /// one after the other (neither listening yet) never get the same one.
    public static func freePort() throws -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 61000...65535)
            guard HandedOutPorts.claim(port) else { continue }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw TestServerError.unexpected("socket() failed") }
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            let length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 }
            }
            if bound { return port }
        }
        throw TestServerError.unexpected("no free port in 61000-65535")
    }

    // MARK: PostgreSQL

    static func psql(_ server: String, _ sql: String) throws {
        let (status, output) = try ChildProcess.run("psql", ["-v", "ON_ERROR_STOP=1", "-q", server, "-c", sql], timeout: .seconds(60))
        guard status == 0 else {
            throw TestServerError.unexpected("psql \(sql) failed: \(output)")
        }
    }

    /// `server` with its database name (the URL path) replaced by `name`.
    static func replacingDatabase(in server: String, with name: String) -> String {
        guard var components = URLComponents(string: server) else { return server }
        components.path = "/\(name)"
        return components.string ?? server
    }
}

/// Ports `Cluster.freePort()` gave out in this process.
private enum HandedOutPorts {
    static let ports = Mutex<Set<Int>>([])

    /// Whether `port` was not given out before (it is now); after 4,000 ports, starts afresh.
    static func claim(_ port: Int) -> Bool {
        ports.withLock { ports in
            if ports.count >= 4000 { ports.removeAll() }
            return ports.insert(port).inserted
        }
    }
}
