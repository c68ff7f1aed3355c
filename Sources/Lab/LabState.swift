import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a running lab records in `DIRECTORY/lab.json`, so that other processes
/// (`ironic lab down|status|enroll`) can find, inspect and stop it.
public struct LabState: Codable, Sendable, Equatable {
    /// One simulated server as recorded.
    public struct Server: Codable, Sendable, Equatable {
        /// Node name, `lab-node-N`.
        public var name: String
        /// ipmi_sim's LAN port (UDP) on 127.0.0.1.
        public var bmcPort: Int
        /// The serial port (TCP) the lab serves and ipmi_sim's SOL connects to.
        public var serialPort: Int
        /// ipmi_sim's command console (TCP, loopback, unauthenticated).
        public var consolePort: Int
        /// The ipmi_sim process.
        public var pid: Int32
        /// The MAC address of the server's (simulated) first NIC.
        public var macAddress: String
        /// The `lan.conf` the process was started with (identifies the process in /proc).
        public var configPath: String
        /// Where the chassis-control script keeps `power`, `boot`, `boots` and `identify`.
        public var chassisDirectory: String
        /// For a virtual machine: the loopback port forwarded to its agent's port 9999.
        public var agentPort: Int?
        /// For a virtual machine: the loopback port forwarded to its SSH port 22 (the
        /// ansible deploy interface's way into the ramdisk).
        public var sshPort: Int?
        /// For a virtual machine: the file its serial port writes to.
        public var serialLog: String? { agentPort == nil ? nil : chassisDirectory + "/" + VirtualMachineFiles.serialLogName }

        /// Whether `pid` still runs ipmi_sim with this server's configuration.
        public var isRunning: Bool { POSIX.isIPMISim(pid, configPath: configPath) }
        /// Power state from the chassis-control files.
        public var powerOn: Bool { ChassisFiles.powerOn(in: chassisDirectory) }
        /// Boot device from the chassis-control files (see `SimulatedServer.bootDevice`).
        public var bootDevice: String { ChassisFiles.bootDevice(in: chassisDirectory) }
    }

    /// Layout version of this file.
    public var formatVersion: Int = 1
    /// The lab directory.
    public var directory: String
    /// The process that started the lab and serves its serial ports.
    public var ownerPID: Int32
    /// That process's command line when it started the lab (guards against reused PIDs).
    public var ownerCommandLine: [String]?
    /// When the lab started.
    public var startedAt: Date
    /// BMC user name.
    public var username: String
    /// BMC password (a lab secret on loopback only).
    public var password: String
    /// Whether the lab created `directory` (and may remove it when it stops).
    public var createdDirectory: Bool
    /// The servers, in order.
    public var servers: [Server]

    /// The file name inside the lab directory.
    public static let fileName = "lab.json"

    /// Reads `directory/lab.json`; nil when there is none.
    ///
    /// - Throws: `LabError.stateFile` when it exists but cannot be read or decoded.
    public static func load(from directory: URL) throws(LabError) -> LabState? {
        let url = directory.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(LabState.self, from: Data(contentsOf: url))
        } catch {
            throw .stateFile("cannot read \(url.path): \(error)")
        }
    }

    /// Writes `directory/lab.json` atomically (mode 0600: it holds the BMC password).
    func write(to directory: URL) throws(LabError) {
        let url = directory.appendingPathComponent(Self.fileName)
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            try encoder.encode(self).write(to: url, options: .atomic)
            chmod(url.path, 0o600)
        } catch {
            throw .stateFile("cannot write \(url.path): \(error)")
        }
    }

    /// Whether the process that started the lab still runs (same PID and command line).
    public var isOwnerRunning: Bool {
        guard POSIX.isAlive(ownerPID) else { return false }
        guard let recorded = ownerCommandLine, let current = POSIX.commandLine(of: ownerPID) else { return true }
        return recorded == current
    }

    /// driver_info for enrolling `server` as an ironic `ipmi` node.
    public func driverInfo(for server: Server) -> [String: String] {
        Lab.driverInfo(bmcPort: server.bmcPort, username: username, password: password)
    }
}

/// Reads the chassis-control files of one server.
enum ChassisFiles {
    static func value(_ name: String, in directory: String) -> String? {
        POSIX.readSmallFile(directory + "/" + name)?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func powerOn(in directory: String) -> Bool { value("power", in: directory) == "1" }

    /// ipmi_sim's boot values, with `default` (IPMI's "force boot from default hard drive") as `disk`.
    static func bootDevice(in directory: String) -> String {
        switch value("boot", in: directory) ?? "default" {
        case "default", "": return "disk"
        case let other: return other
        }
    }

    static func initialize(in directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, value) in [("power", "0"), ("boot", "default"), ("boots", "0")] {
            try Data((value + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/" + name), options: .atomic)
        }
        for name in ["identify", SerialControl.tickFileName, SerialControl.burstFileName] {
            try? FileManager.default.removeItem(atPath: directory + "/" + name)
        }
    }
}

/// `lab.json` of a running lab in this process, shared by the lab and its servers (a restarted
/// BMC has a new PID that `ironic lab down` must know).
final class LabStateFile: Sendable {
    let directory: URL
    private let state: Mutex<LabState>

    init(directory: URL, state: LabState) throws(LabError) {
        self.directory = directory
        self.state = Mutex(state)
        try state.write(to: directory)
    }

    func updatePID(of name: String, to pid: Int32) {
        let snapshot = state.withLock { state in
            if let index = state.servers.firstIndex(where: { $0.name == name }) { state.servers[index].pid = pid }
            return state
        }
        try? snapshot.write(to: directory)
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory.appendingPathComponent(LabState.fileName))
    }
}

/// What `Lab.stopRunning(in:)` did.
public struct LabStopReport: Sendable, Equatable {
    /// Whether a lab state file was found.
    public var found: Bool
    /// Whether the owning process was asked to stop (SIGTERM) and exited.
    public var ownerStopped: Bool
    /// Servers whose ipmi_sim this call had to end itself (the owner was gone or did not).
    public var killedServers: [String]
    /// Servers whose ipmi_sim could not be ended.
    public var survivors: [String]
}

/// Directories with a running lab and ports handed out, in this process: several labs in one
/// test process must not pick the same "free" port between checking it and ipmi_sim binding it.
enum LabRegistry {
    struct Contents {
        var directories: Set<String> = []
        var ports: Set<Int> = []
    }

    static let contents = Mutex(Contents())

    static func claim(directory: String) -> Bool {
        contents.withLock { $0.directories.insert(directory).inserted }
    }

    static func release(directory: String, ports: [Int]) {
        contents.withLock {
            $0.directories.remove(directory)
            $0.ports.subtract(ports)
        }
    }

    static func reserve(_ port: Int) -> Bool {
        contents.withLock { $0.ports.insert(port).inserted }
    }

    static func unreserve(_ ports: [Int]) {
        contents.withLock { $0.ports.subtract(ports) }
    }
}
