import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// One simulated server of a `Lab`: an ipmi_sim BMC on a loopback UDP port, its chassis
/// (power and boot device kept in files by the chassis-control script) and its serial port.
///
/// ```swift
/// let server = lab.servers[0]
/// // ipmipower -h 127.0.0.1:\(server.bmcPort) -u admin -p password -W opensesspriv --on
/// server.powerOn      // true
/// try server.freeze() // the BMC stops answering until thaw()
/// ```
public final class SimulatedServer: Sendable {
    /// Node name: `lab-node-0`, `lab-node-1`, ...
    public let name: String
    /// Position in the lab.
    public let index: Int
    /// ipmi_sim's LAN port (UDP) on 127.0.0.1.
    public let bmcPort: Int
    /// The TCP port on 127.0.0.1 where the lab serves this server's serial port; ipmi_sim's
    /// `sol "tcp:127.0.0.1:PORT"` connects to it, and so may anybody who wants to watch.
    public let serialPort: Int
    /// ipmi_sim's command console (TCP, loopback only, unauthenticated), for `sel_add` etc.
    public let consolePort: Int
    /// The MAC address of the server's simulated first NIC (printed in its boot log).
    public let macAddress: String
    /// This server's directory inside the lab directory.
    public let directory: URL

    let chassisDirectory: String
    let launch: Launch
    private let stateFile: LabStateFile
    private let currentPID: Mutex<Int32>

    /// How to (re)start this server's ipmi_sim.
    struct Launch: Sendable {
        var executable: String
        var configPath: String
        var emulationPath: String
        var stateDirectory: String
        var logPath: String
        /// The BMC user that sets the SEL clock after a start.
        var username: String
        /// The lab's spawner (BMCs die with the process that started them).
        var spawner: Spawner

        var arguments: [String] { ["-c", configPath, "-f", emulationPath, "-s", stateDirectory, "-n"] }

        func spawn() throws(LabError) -> pid_t {
            try spawner.spawn(executable: executable, arguments: arguments, logPath: logPath)
        }
    }

    init(
        name: String, index: Int, bmcPort: Int, serialPort: Int, consolePort: Int, macAddress: String,
        directory: URL, chassisDirectory: String, launch: Launch, pid: Int32, stateFile: LabStateFile
    ) {
        self.name = name
        self.index = index
        self.bmcPort = bmcPort
        self.serialPort = serialPort
        self.consolePort = consolePort
        self.macAddress = macAddress
        self.directory = directory
        self.chassisDirectory = chassisDirectory
        self.launch = launch
        self.stateFile = stateFile
        self.currentPID = Mutex(pid)
    }

    /// The ipmi_sim process (changes with `restart()`; 0 once the lab has stopped).
    public var pid: Int32 { currentPID.withLock { $0 } }

    /// Whether the server is powered on, as the BMC last set it.
    public var powerOn: Bool { ChassisFiles.powerOn(in: chassisDirectory) }

    /// The boot device the BMC last set: `"disk"` (IPMI's "default hard drive", the initial
    /// value), `"pxe"`, `"cdrom"`, `"bios"` (BIOS setup) or `"none"` (no override).
    public var bootDevice: String { ChassisFiles.bootDevice(in: chassisDirectory) }

    /// How often the server has booted: every power-on, and every reset while on.
    public var bootCount: Int { Int(ChassisFiles.value("boots", in: chassisDirectory) ?? "") ?? 0 }

    /// The last Chassis Identify request as "interval force" (interval in seconds, force 0/1), if any.
    public var identify: String? { ChassisFiles.value("identify", in: chassisDirectory) }

    /// Whether the ipmi_sim process is alive (a frozen one counts as alive).
    public var isRunning: Bool { POSIX.isIPMISim(pid, configPath: launch.configPath) }

    /// Makes the serial port print a short line (`lab-node-N tick K`) every `interval` while
    /// the server is on and done booting, so a console that attaches at any time sees output
    /// within one interval; nil stops it. Takes effect within 250 ms (the lab's chassis poll).
    ///
    /// - Parameter interval: 10 ms ... 60 s, whole milliseconds.
    /// - Throws: `LabError.invalidConfiguration` for an interval out of range, `LabError.system`
    ///   when the request file cannot be written.
    public func setSerialTick(_ interval: Duration?) throws {
        let path = chassisDirectory + "/" + SerialControl.tickFileName
        guard let interval else {
            if unlink(path) != 0 && errno != ENOENT { throw LabError.system(call: "unlink \(path)", errno: errno) }
            return
        }
        let milliseconds = Int(interval.milliseconds)
        guard SerialControl.tickRange.contains(milliseconds) else {
            throw LabError.invalidConfiguration("serial tick must be 10 ms ... 60 s, not \(interval)")
        }
        try SerialControl.writeRequest("\(milliseconds)\n", named: SerialControl.tickFileName, in: chassisDirectory)
    }

    /// Makes the serial port print `burst.bytes` bytes of numbered 64-byte lines
    /// (`lab-node-N burst 0000000000 .....` CR LF), at most `burst.bytesPerSecond` fast and
    /// never faster than the slowest client of the serial port reads (ipmi_sim among them).
    /// Starts within 250 ms if the server is on; a power cut ends it; a new request replaces
    /// one under way.
    ///
    /// - Throws: `LabError.invalidConfiguration` for a size outside 1 byte ... 1 GiB or a rate
    ///   below 1, `LabError.system` when the request file cannot be written.
    public func startSerialBurst(_ burst: SerialControl.Burst) throws {
        guard (1...SerialControl.maximumBurst).contains(burst.bytes), (burst.bytesPerSecond ?? 1) > 0 else {
            throw LabError.invalidConfiguration("a serial burst is 1 byte ... 1 GiB at a rate of at least 1 byte/s")
        }
        try SerialControl.writeRequest(burst.fileContent, named: SerialControl.burstFileName, in: chassisDirectory)
    }

    /// Stops the BMC with SIGSTOP: it no longer answers (requests queue up and are answered
    /// late after `thaw()`), like a hung BMC.
    ///
    /// - Throws: `LabError.notRunning` when the process is gone.
    public func freeze() throws {
        try signal(SIGSTOP)
    }

    /// Resumes a frozen BMC (SIGCONT).
    ///
    /// - Throws: `LabError.notRunning` when the process is gone.
    public func thaw() throws {
        try signal(SIGCONT)
    }

    private func signal(_ signal: Int32) throws(LabError) {
        let pid = self.pid
        guard pid > 0, POSIX.isAlive(pid), kill(pid, signal) == 0 else { throw .notRunning(name: name) }
    }

    /// Adds a system event record to the BMC's SEL through the command console (`sel_add`).
    ///
    /// The record is a standard one (type 0x02) generated by the BMC (0x20), stamped with the
    /// current time. The lab's BMCs have one sensor with an SDR: number 1, a temperature
    /// sensor ("CPU Temp", `sensorType` 0x01, threshold `eventType` 0x01).
    ///
    /// - Parameters:
    ///   - eventData: event data 1...3; missing bytes are 0xFF (unspecified).
    ///   - assertion: false sets the deassertion bit of the event direction.
    /// - Throws: `LabError.console` when the console does not answer (a frozen BMC) or refuses,
    ///   or for more than 3 bytes of event data.
    public func addSELEntry(
        sensorType: UInt8, sensorNumber: UInt8, eventType: UInt8, eventData: [UInt8],
        assertion: Bool
    ) async throws {
        guard eventData.count <= 3 else {
            throw LabError.console(name: name, message: "event data is at most 3 bytes, not \(eventData.count)")
        }
        let timestamp = UInt32(truncatingIfNeeded: Int(Date().timeIntervalSince1970))
        var record: [UInt8] = (0..<4).map { UInt8(truncatingIfNeeded: timestamp >> (8 * $0)) }
        record += [0x20, 0x00, 0x04, sensorType, sensorNumber, (assertion ? 0x00 : 0x80) | (eventType & 0x7f)]
        record += eventData + Array(repeating: 0xff, count: 3 - eventData.count)
        let command = "sel_add 0x20 0x02 " + record.map(LabFiles.hex).joined(separator: " ")
        _ = try await consoleCommand(command)
    }

    /// Sets the temperature sensor's reading (°C, 1 per count); above 80/90/100 °C it crosses
    /// the upper thresholds, and with `generateEvent` ipmi_sim logs that in the SEL.
    public func setTemperature(_ celsius: UInt8, generateEvent: Bool = true) async throws {
        _ = try await consoleCommand(
            "sensor_set_value 0x20 0x0 \(LabFiles.hex(LabFiles.temperatureSensorNumber)) \(LabFiles.hex(celsius)) \(generateEvent ? "0x1" : "0x0")"
        )
    }

    /// Runs one ipmi_sim_cmd(5) command on the BMC's command console and returns its output.
    ///
    /// `quit` ends the simulator (a dead BMC, until `restart()`).
    ///
    /// - Throws: `LabError.console` when the console does not answer in `timeout` or the
    ///   command fails (ipmi_sim's `**` error output).
    public func consoleCommand(_ command: String, timeout: Duration = .seconds(3)) async throws -> String {
        let port = consolePort
        let name = name
        return try await onOwnThread("lab-console") {
            try CommandConsole.run([command], port: port, name: name, timeout: timeout)[0]
        }
    }

    /// Restarts the BMC: ends the ipmi_sim process (SIGTERM, then SIGKILL) and starts it again
    /// on the same ports and state (SEL and users persist, power and boot device too); returns
    /// once it answers again. The serial port stays up; ipmi_sim reconnects to it at start.
    ///
    /// - Throws: `LabError.serverDidNotStart` when the new process does not answer in time.
    public func restart(timeout: Duration = .seconds(10)) async throws {
        try await onOwnThread("lab-restart") { try self.restartNow(timeout: timeout) }
    }

    private func restartNow(timeout: Duration) throws(LabError) {
        let old = pid
        guard old != 0 else { throw .notRunning(name: name) }
        POSIX.terminateChild(old)
        let new = try launch.spawn()
        let replaced = currentPID.withLock { pid in
            guard pid == old else { return false }
            pid = new
            return true
        }
        guard replaced else {
            // The lab stopped (or another restart won) meanwhile.
            POSIX.terminateChild(new)
            throw .notRunning(name: name)
        }
        stateFile.updatePID(of: name, to: new)
        let answered = try BMCProbe.waitForAnswers(ports: [bmcPort], deadline: .now + timeout) { _ in POSIX.reapIfExited(new) }
        guard answered.contains(bmcPort) else {
            throw .serverDidNotStart(
                name: name, reason: "no IPMI answer on UDP port \(bmcPort) after restart",
                log: POSIX.tail(of: launch.logPath))
        }
        // The clock of a restarted BMC starts again from the host's uptime.
        try? SELClock.set(port: bmcPort, username: launch.username)
    }

    /// Ends the process for good (the lab is stopping); returns its PID (0 if none).
    func takePIDForShutdown() -> Int32 {
        currentPID.withLock { pid in
            defer { pid = 0 }
            return pid
        }
    }
}
