import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A lab of simulated servers on loopback: one OpenIPMI `ipmi_sim` BMC per server, a
/// chassis-control script that keeps each server's power and boot device in files, and an
/// in-process serial port per server that prints a boot log after power-on and echoes input.
///
/// ```swift
/// let lab = try await Lab.start(LabConfiguration(directory: tmp, count: 2))
/// let info = lab.driverInfo(for: lab.servers[0])   // enroll as an `ipmi` node
/// ...
/// await lab.stop()
/// ```
///
/// The lab records itself in `DIRECTORY/lab.json` (PIDs, ports), so another process can
/// inspect it (`LabState.load(from:)`) or stop it (`Lab.stopRunning(in:)`). The serial ports
/// live in the process that started the lab: the lab lasts as long as that process, and
/// `stop()` (or the process ending) takes them down. Only processes the lab started are ever
/// signalled, identified by PID and checked against `/proc/PID/cmdline`.
public final class Lab: Sendable {
    /// The simulated servers, in order (`lab-node-0` first).
    public let servers: [SimulatedServer]
    /// The lab directory (generated files, state, `lab.json`).
    public let directory: URL
    /// The BMCs' administrator user name.
    public let username: String
    /// The BMCs' administrator password.
    public let password: String

    let configuration: LabConfiguration
    private let hub: SerialHub
    private let spawner: Spawner
    private let stateFile: LabStateFile
    private let createdDirectory: Bool
    private let ports: [Int]
    private let stopped = Mutex(false)

    /// The FreeIPMI workarounds ipmi_sim needs: `opensesspriv` for any IPMI 2.0 session, and
    /// for serial-over-LAN `solchannelsupport` (without it ipmi_sim 2.0.33 crashes on Get
    /// Channel Payload Support), `solstatus` and `solpayloadsize`.
    public static let ipmiWorkarounds = "opensesspriv,solchannelsupport,solstatus,solpayloadsize"

    /// The name of server `index`.
    public static func serverName(_ index: Int) -> String { "lab-node-\(index)" }

    /// Starts every server and returns once each BMC answers an IPMI request.
    ///
    /// Serial ports come up first (ipmi_sim connects to them at start and otherwise retries
    /// only every 10 s). With `basePort == nil`, a BMC that fails to come up (a port taken
    /// meanwhile) is retried twice on other ports.
    ///
    /// - Throws: `LabError` (`invalidConfiguration`, `ipmiSimNotFound`, `alreadyRunning`,
    ///   `portInUse`, `serverDidNotStart` with the end of ipmi_sim's output, ...). Nothing
    ///   started is left running.
    public static func start(_ configuration: LabConfiguration) async throws -> Lab {
        try await onOwnThread("lab-start") { try Lab(starting: configuration) }
    }

    init(
        servers: [SimulatedServer], directory: URL, configuration: LabConfiguration, hub: SerialHub, spawner: Spawner,
        stateFile: LabStateFile, createdDirectory: Bool, ports: [Int]
    ) {
        self.servers = servers
        self.directory = directory
        self.username = configuration.username
        self.password = configuration.password
        self.configuration = configuration
        self.hub = hub
        self.spawner = spawner
        self.stateFile = stateFile
        self.createdDirectory = createdDirectory
        self.ports = ports
    }

    /// The server named `name`, if any.
    public subscript(name: String) -> SimulatedServer? {
        servers.first { $0.name == name }
    }

    /// driver_info for enrolling `server` as an ironic `ipmi` node: `ipmi_address`,
    /// `ipmi_port`, `ipmi_username`, `ipmi_password`, `ipmi_workarounds`.
    public func driverInfo(for server: SimulatedServer) -> [String: String] {
        Self.driverInfo(bmcPort: server.bmcPort, username: username, password: password)
    }

    /// driver_info for an ipmi_sim BMC on 127.0.0.1:`bmcPort`.
    public static func driverInfo(bmcPort: Int, username: String, password: String) -> [String: String] {
        [
            "ipmi_address": "127.0.0.1",
            "ipmi_port": String(bmcPort),
            "ipmi_username": username,
            "ipmi_password": password,
            "ipmi_workarounds": ipmiWorkarounds,
        ]
    }

    /// Stops every ipmi_sim this lab started (SIGTERM, SIGKILL after 2 s), the serial ports,
    /// and removes `lab.json` and the files the lab generated (unless `keepFiles`), and the
    /// directory itself if the lab created it and it is empty. Idempotent.
    public func stop() async {
        _ = try? await onOwnThread("lab-stop") { self.stopNow() }
    }

    /// `stop()` without leaving the calling thread (blocks for up to about 5 s).
    public func stopNow() {
        let first = stopped.withLock { wasStopped in
            defer { wasStopped = true }
            return !wasStopped
        }
        guard first else { return }
        let pids = servers.map { $0.takePIDForShutdown() }.filter { $0 > 0 }
        POSIX.terminateChildren(pids)
        for server in servers { VirtualMachineFiles.stop(in: server.chassisDirectory) }
        spawner.stop()
        hub.stop()
        stateFile.remove()
        if !configuration.keepFiles {
            Self.removeGeneratedFiles(in: directory, names: servers.map(\.name), createdDirectory: createdDirectory)
        }
        LabRegistry.release(directory: directory.path, ports: ports)
        configuration.logger.info("lab stopped", metadata: ["directory": "\(directory.path)", "servers": "\(servers.count)"])
    }

    deinit {
        // A lab dropped without stop() must not leave BMCs behind.
        stopNow()
    }

    static func removeGeneratedFiles(in directory: URL, names: [String], createdDirectory: Bool) {
        let manager = FileManager.default
        for name in names {
            try? manager.removeItem(at: directory.appendingPathComponent(name))
        }
        try? manager.removeItem(at: directory.appendingPathComponent(chassisControlFileName))
        if createdDirectory, (try? manager.contentsOfDirectory(atPath: directory.path))?.isEmpty == true {
            try? manager.removeItem(at: directory)
        }
    }

    static let chassisControlFileName = "chassis-control"
}

extension POSIX {
    /// `terminateChild` for many at once: signals all, then waits for all (about 2 s at most,
    /// plus 2 s for those that need SIGKILL).
    static func terminateChildren(_ pids: [pid_t]) {
        var remaining = pids.filter { !reapIfExited($0) }
        for pid in remaining {
            kill(pid, SIGCONT)
            kill(pid, SIGTERM)
        }
        waitUntil(deadline: .now + .seconds(2)) {
            remaining.removeAll(where: reapIfExited)
            return remaining.isEmpty
        }
        for pid in remaining { kill(pid, SIGKILL) }
        waitUntil(deadline: .now + .seconds(2)) {
            remaining.removeAll(where: reapIfExited)
            return remaining.isEmpty
        }
    }
}
