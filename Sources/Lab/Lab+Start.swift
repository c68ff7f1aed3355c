import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension Lab {
    /// One server while the lab starts: where its files go, its ports, its process.
    private struct Plan {
        var name: String
        var index: Int
        var nodeDirectory: URL
        var chassisDirectory: String
        var bmcPort = 0
        var serialPort: Int
        var consolePort = 0
        var macAddress: String
        var guid = LabFiles.randomGUID()
        var launch: SimulatedServer.Launch
        var pid: pid_t = 0
        var agentPort: Int?
        var sshPort: Int?
    }

    /// Undo list for a start that fails half-way.
    private final class Rollback {
        var pids: [pid_t] = []
        var listeners: [Int32] = []
        var hub: SerialHub?
        var spawner: Spawner?
        var ports: [Int] = []
        var directory: String?
        var generated: (URL, [String], Bool)?

        func run() {
            POSIX.terminateChildren(pids)
            spawner?.stop()
            hub?.stop()
            listeners.forEach { close($0) }
            if let (url, names, created) = generated {
                Lab.removeGeneratedFiles(in: url, names: names, createdDirectory: created)
            }
            if let directory { LabRegistry.release(directory: directory, ports: ports) } else { LabRegistry.unreserve(ports) }
        }
    }

    /// Blocking start; see `start(_:)`.
    convenience init(starting configuration: LabConfiguration) throws {
        try configuration.validate()
        let logger = configuration.logger
        let executable = try Self.findIPMISim(configuration.ipmiSimPath)
        if let base = configuration.basePort, LabConfiguration.fixedPorts(basePort: base, index: configuration.count - 1).bmc > 32767 {
            logger.warning("BMC ports above 32767: FreeIPMI's libipmiconsole refuses them, so serial-over-LAN will not work")
        }
        let directory = configuration.directory.standardizedFileURL
        let rollback = Rollback()
        guard LabRegistry.claim(directory: directory.path) else {
            throw LabError.alreadyRunning(directory: directory.path, pid: getpid())
        }
        rollback.directory = directory.path
        do {
            let createdDirectory = try Self.prepare(directory: directory, logger: logger)
            let names = (0..<configuration.count).map(Lab.serverName)
            if !configuration.keepFiles { rollback.generated = (directory, names, createdDirectory) }

            let spawner = Spawner()
            rollback.spawner = spawner
            if !spawner.tiesChildrenToProcess {
                logger.warning("setpriv (util-linux) not found: BMCs outlive this process unless the lab is stopped")
            }

            let script = directory.appendingPathComponent(Lab.chassisControlFileName)
            try Data(LabFiles.chassisControlScript.utf8).write(to: script, options: .atomic)
            chmod(script.path, 0o755)

            // Serial ports first: ipmi_sim connects at start, then only every 10 s.
            let macPrefix = String(format: "52:54:00:%02x", UInt8.random(in: 0...255))
            var plans: [Plan] = []
            var hubPorts: [SerialHub.Port] = []
            for (index, name) in names.enumerated() {
                let node = directory.appendingPathComponent(name)
                try? FileManager.default.removeItem(at: node)
                let chassis = node.appendingPathComponent("chassis").path
                try ChassisFiles.initialize(in: chassis)
                let state = node.appendingPathComponent("ipmi_sim").path
                try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
                let emulation = node.appendingPathComponent("\(name).emu")
                try Data(LabFiles.emulation(name: name).utf8).write(to: emulation, options: .atomic)

                let fixed = configuration.basePort.map { LabConfiguration.fixedPorts(basePort: $0, index: index) }
                let (listener, serialPort) = try POSIX.listenTCP(port: fixed?.serial ?? 0)
                rollback.listeners.append(listener)
                if !LabRegistry.reserve(serialPort) { throw LabError.portInUse(serialPort) }
                rollback.ports.append(serialPort)

                let mac = macPrefix + String(format: ":%02x:%02x", (index >> 8) & 0xff, index & 0xff)
                let launch = SimulatedServer.Launch(
                    executable: executable, configPath: node.appendingPathComponent("lan.conf").path,
                    emulationPath: emulation.path, stateDirectory: state,
                    logPath: node.appendingPathComponent("ipmi_sim.log").path, username: configuration.username,
                    spawner: spawner)
                var agentPort: Int?
                var sshPort: Int?
                if let machines = configuration.machines {
                    var forwarded: [Int] = []
                    for _ in 0..<2 {
                        let (listener, port) = try POSIX.listenTCP(port: 0)
                        close(listener)
                        if !LabRegistry.reserve(port) { throw LabError.portInUse(port) }
                        rollback.ports.append(port)
                        forwarded.append(port)
                    }
                    try VirtualMachineFiles.install(
                        in: chassis, name: name, macAddress: mac, agentPort: forwarded[0], sshPort: forwarded[1], settings: machines)
                    (agentPort, sshPort) = (forwarded[0], forwarded[1])
                }
                plans.append(
                    Plan(
                        name: name, index: index, nodeDirectory: node, chassisDirectory: chassis,
                        serialPort: serialPort, macAddress: mac, launch: launch, agentPort: agentPort, sshPort: sshPort))
                hubPorts.append(
                    SerialHub.Port(
                        name: name, listener: listener, port: serialPort, chassisDirectory: chassis,
                        macAddress: mac, bootLog: configuration.bootLog))
            }
            let hub = try SerialHub(ports: hubPorts)
            rollback.listeners = []
            rollback.hub = hub

            try Self.launchAll(&plans, configuration: configuration, script: script.path, rollback: rollback)
            for plan in plans {
                do {
                    try SELClock.set(port: plan.bmcPort, username: configuration.username)
                } catch {
                    logger.warning(
                        "SEL clock not set; SEL records will read post-init", metadata: ["name": "\(plan.name)", "error": "\(error)"])
                }
            }

            let state = LabState(
                directory: directory.path, ownerPID: getpid(), ownerCommandLine: POSIX.commandLine(of: getpid()),
                startedAt: Date(), username: configuration.username, password: configuration.password,
                createdDirectory: createdDirectory,
                servers: plans.map {
                    LabState.Server(
                        name: $0.name, bmcPort: $0.bmcPort, serialPort: $0.serialPort, consolePort: $0.consolePort,
                        pid: $0.pid, macAddress: $0.macAddress, configPath: $0.launch.configPath,
                        chassisDirectory: $0.chassisDirectory, agentPort: $0.agentPort, sshPort: $0.sshPort)
                })
            let stateFile = try LabStateFile(directory: directory, state: state)
            let servers = plans.map {
                SimulatedServer(
                    name: $0.name, index: $0.index, bmcPort: $0.bmcPort, serialPort: $0.serialPort,
                    consolePort: $0.consolePort, macAddress: $0.macAddress, directory: $0.nodeDirectory,
                    chassisDirectory: $0.chassisDirectory, launch: $0.launch, pid: $0.pid, stateFile: stateFile)
            }
            self.init(
                servers: servers, directory: directory, configuration: configuration, hub: hub, spawner: spawner,
                stateFile: stateFile, createdDirectory: createdDirectory, ports: rollback.ports)
            logger.info("lab started", metadata: ["directory": "\(directory.path)", "servers": "\(servers.count)"])
        } catch {
            rollback.run()
            throw error
        }
    }

    /// Creates `directory` if needed and deals with a lab recorded there before: refuses a live
    /// one, ends the BMCs a crashed one left. Returns whether the directory was created.
    private static func prepare(directory: URL, logger: Logger) throws -> Bool {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        let existed = manager.fileExists(atPath: directory.path, isDirectory: &isDirectory)
        if existed && !isDirectory.boolValue {
            throw LabError.invalidConfiguration("\(directory.path) exists and is not a directory")
        }
        if !existed {
            try manager.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        if let old = try? LabState.load(from: directory) {
            if old.ownerPID != getpid() && old.isOwnerRunning {
                throw LabError.alreadyRunning(directory: directory.path, pid: old.ownerPID)
            }
            for server in old.servers where server.isRunning {
                logger.warning("ending a BMC left by an earlier lab", metadata: ["name": "\(server.name)", "pid": "\(server.pid)"])
                _ = POSIX.terminateForeign(server.pid) { server.isRunning }
            }
            try? manager.removeItem(at: directory.appendingPathComponent(LabState.fileName))
        }
        return !existed
    }

    /// Picks BMC and console ports, writes lan.conf, starts ipmi_sim for every plan and waits
    /// until each answers; with free-port picking, retries failures twice on new ports.
    private static func launchAll(
        _ plans: inout [Plan], configuration: LabConfiguration, script: String,
        rollback: Rollback
    ) throws {
        let attempts = configuration.basePort == nil ? 3 : 1
        let timeout = configuration.startTimeout + .milliseconds(10 * plans.count)
        var pending = Array(plans.indices)
        var failures: [Int: (reason: String, log: String)] = [:]
        for attempt in 1...attempts {
            for index in pending {
                try choosePorts(&plans[index], basePort: configuration.basePort, rollback: rollback)
                let plan = plans[index]
                let lan = LabFiles.lanConfiguration(
                    name: plan.name, bmcPort: plan.bmcPort, serialPort: plan.serialPort, consolePort: plan.consolePort,
                    guid: plan.guid, chassisControl: "\(script) \(plan.chassisDirectory)",
                    username: configuration.username, password: configuration.password)
                try Data(lan.utf8).write(to: URL(fileURLWithPath: plan.launch.configPath), options: .atomic)
                plans[index].pid = try plan.launch.spawn()
                rollback.pids.append(plans[index].pid)
            }

            let byPort = Dictionary(uniqueKeysWithValues: pending.map { (plans[$0].bmcPort, $0) })
            let snapshot = plans
            let answered = try BMCProbe.waitForAnswers(ports: Set(byPort.keys), deadline: .now + timeout) { port in
                byPort[port].map { POSIX.reapIfExited(snapshot[$0].pid) } ?? true
            }
            failures = [:]
            for index in pending {
                let plan = plans[index]
                // An answer from a process that has exited came from somebody else on that port.
                let exited = POSIX.reapIfExited(plan.pid)
                guard !answered.contains(plan.bmcPort) || exited else { continue }
                if !exited { POSIX.terminateChild(plan.pid) }
                rollback.pids.removeAll { $0 == plan.pid }
                let reason =
                    exited
                    ? "ipmi_sim exited" : "no IPMI answer on UDP port \(plan.bmcPort) within \(timeout) (a bad .emu line leaves no port)"
                failures[index] = (reason, POSIX.tail(of: plan.launch.logPath))
                plans[index].pid = 0
            }
            pending = failures.keys.sorted()
            if pending.isEmpty { return }
            if attempt < attempts {
                configuration.logger.warning(
                    "retrying BMCs on other ports",
                    metadata: [
                        "names": "\(pending.map { plans[$0].name })", "reason": "\(failures[pending[0]]!.reason)",
                    ])
            }
        }
        let first = pending[0]
        throw LabError.serverDidNotStart(name: plans[first].name, reason: failures[first]!.reason, log: failures[first]!.log)
    }

    private static func choosePorts(_ plan: inout Plan, basePort: Int?, rollback: Rollback) throws {
        if let basePort {
            let fixed = LabConfiguration.fixedPorts(basePort: basePort, index: plan.index)
            guard POSIX.isFree(port: fixed.bmc, type: POSIX.datagramType), LabRegistry.reserve(fixed.bmc) else {
                throw LabError.portInUse(fixed.bmc)
            }
            rollback.ports.append(fixed.bmc)
            guard POSIX.isFree(port: fixed.console, type: POSIX.streamType), LabRegistry.reserve(fixed.console) else {
                throw LabError.portInUse(fixed.console)
            }
            rollback.ports.append(fixed.console)
            (plan.bmcPort, plan.consolePort) = (fixed.bmc, fixed.console)
            return
        }
        // A retry moves to new ports; the old ones may be taken by someone else.
        LabRegistry.unreserve([plan.bmcPort, plan.consolePort].filter { $0 != 0 })
        rollback.ports.removeAll { $0 == plan.bmcPort || $0 == plan.consolePort }
        plan.bmcPort = try freePort(type: POSIX.datagramType)
        rollback.ports.append(plan.bmcPort)
        plan.consolePort = try freePort(type: POSIX.streamType)
        rollback.ports.append(plan.consolePort)
    }

    /// Where free BMC and console ports are picked: libipmiconsole (FreeIPMI 1.6) rejects a
    /// BMC port above 32767 as "hostname invalid", so serial-over-LAN needs lower ones; Linux
    /// hands out ephemeral ports from 32768 up, so nothing else grabs these meanwhile; and the
    /// console proxy hands out its default `port_range` (10000:20000), which a lab stays above.
    static let freePortRange = 20_001...32_767

    private static func freePort(type: Int32) throws(LabError) -> Int {
        for _ in 0..<256 {
            let port = Int.random(in: freePortRange)
            guard POSIX.isFree(port: port, type: type) else { continue }
            if LabRegistry.reserve(port) { return port }
        }
        throw .system(call: "bind (finding a free port)", errno: EADDRINUSE)
    }

    static func findIPMISim(_ explicit: String?) throws(LabError) -> String {
        let manager = FileManager.default
        if let explicit {
            guard manager.isExecutableFile(atPath: explicit) else { throw .ipmiSimNotFound }
            return explicit
        }
        guard let found = POSIX.findExecutable("ipmi_sim") else { throw .ipmiSimNotFound }
        return found
    }
}
