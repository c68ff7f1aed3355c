import Foundation
import Testing

@testable import Lab

/// A live lab against FreeIPMI's own command-line tools.
@Suite("Lab with ipmi_sim")
struct LabTests {
    @Test func powerFollowsIPMIPower() async throws {
        try await withLab { lab in
            let server = lab.servers[1]
            let options = freeIPMIOptions(lab, server)
            #expect(!server.powerOn)
            #expect(try await run("ipmipower", options + ["--stat"]).output.contains(": off"))

            let on = try await run("ipmipower", options + ["--on"])
            #expect(on.status == 0, "\(on.output)")
            #expect(server.powerOn)
            #expect(!lab.servers[0].powerOn, "only the addressed server powers on")
            #expect(try await run("ipmipower", options + ["--stat"]).output.contains(": on"))
            #expect(server.bootCount == 1)

            _ = try await run("ipmipower", options + ["--reset"])
            #expect(server.powerOn)
            #expect(server.bootCount == 2, "a reset while on is a boot")

            _ = try await run("ipmipower", options + ["--off"])
            #expect(!server.powerOn)
            #expect(try await run("ipmipower", options + ["--stat"]).output.contains(": off"))

            // Power cycle: ipmi_sim powers off, then on again one second later.
            _ = try await run("ipmipower", options + ["--on"])
            _ = try await run("ipmipower", options + ["--cycle"])
            #expect(await eventually { server.powerOn && server.bootCount == 4 })

            // Soft off (Chassis Control "initiate soft shutdown"): the simulated OS obliges at once.
            let soft = try await run("ipmipower", options + ["--soft"])
            #expect(soft.status == 0, "\(soft.output)")
            #expect(!server.powerOn)
        }
    }

    @Test func bootDeviceFollowsBootFlags() async throws {
        try await withLab { lab in
            let server = lab.servers[0]
            let options = freeIPMIOptions(lab, server)
            #expect(server.bootDevice == "disk")
            #expect(try await run("ipmi-chassis", options + ["--get-boot-flags"]).output.contains("Force boot from default Hard drive"))

            // `ipmi-chassis --set-boot-flags --boot-device=...` (undocumented in FreeIPMI 1.6)
            // keeps the current device; ipmi-chassis-config sets it.
            for (value, expected, shown) in [
                ("PXE", "pxe", "Force PXE"), ("CD-DVD", "cdrom", "CD/DVD"),
                ("BIOS-SETUP", "bios", "BIOS Setup"), ("HARD-DRIVE", "disk", "Hard drive"),
            ] {
                let set = try await run("ipmi-chassis-config", options + ["--commit", "-e", "Chassis_Boot_Flags:Boot_Device=\(value)"])
                #expect(set.status == 0, "\(value): \(set.output)")
                #expect(server.bootDevice == expected)
                let flags = try await run("ipmi-chassis", options + ["--get-boot-flags"]).output
                #expect(flags.localizedCaseInsensitiveContains(shown), "\(flags)")
            }
            #expect(lab.servers[1].bootDevice == "disk")
        }
    }

    @Test func chassisIdentifyIsRecordedAndAnsweredAtOnce() async throws {
        try await withLab(count: 1) { lab in
            let server = lab.servers[0]
            #expect(server.identify == nil)
            // ipmi_sim 2.0.33 garbles a successful answer (a client times out); the lab makes
            // it answer "unspecified error" at once instead, and records the request.
            let start = ContinuousClock.now
            let result = try await run(
                "ipmi-chassis", freeIPMIOptions(lab, server, sessionTimeout: .seconds(20)) + ["--chassis-identify=15"])
            // Answered, not timed out: well inside the 20 s session timeout even on a loaded machine.
            #expect(ContinuousClock.now - start < .seconds(15))
            #expect(result.output.contains("bad completion code"), "\(result.output)")
            #expect(server.identify == "15 0")
        }
    }

    @Test func frozenBMCTimesOutAndThawedAnswers() async throws {
        try await withLab { lab in
            let server = lab.servers[0]
            try server.freeze()
            let start = ContinuousClock.now
            let frozen = try await run("ipmipower", freeIPMIOptions(lab, server, sessionTimeout: .seconds(1)) + ["--stat"])
            #expect(frozen.output.contains("timeout") || frozen.status != 0, "\(frozen.output)")
            #expect(!frozen.output.contains(": off"))
            #expect(ContinuousClock.now - start < .seconds(15))
            // The other BMC keeps answering.
            #expect(try await run("ipmipower", freeIPMIOptions(lab, lab.servers[1]) + ["--stat"]).output.contains(": off"))

            try server.thaw()
            let thawed = try await run("ipmipower", freeIPMIOptions(lab, server, sessionTimeout: .seconds(5)) + ["--stat"])
            #expect(thawed.output.contains(": off"), "\(thawed.output)")
        }
    }

    @Test func selEntryIsVisibleToIPMISel() async throws {
        try await withLab { lab in
            let server = lab.servers[0]
            let cache = try sdrCacheDirectory()
            defer { try? FileManager.default.removeItem(at: cache) }
            let options = freeIPMIOptions(lab, server) + ["--sdr-cache-directory=\(cache.path)"]

            let sensors = try await run("ipmi-sensors", options)
            #expect(sensors.output.contains("CPU Temp"), "\(sensors.output)")
            #expect(sensors.output.contains("40.00"), "\(sensors.output)")

            // Temperature sensor 1, threshold event, "upper critical going high" (offset 9).
            try await server.addSELEntry(sensorType: 0x01, sensorNumber: 0x01, eventType: 0x01, eventData: [0x09], assertion: true)
            let sel = try await run("ipmi-sel", options)
            #expect(sel.status == 0, "\(sel.output)")
            #expect(sel.output.contains("CPU Temp"), "\(sel.output)")
            #expect(sel.output.contains("Upper Critical - going high"), "\(sel.output)")
            #expect(!sel.output.contains("PostInit"), "the record carries the current time")
            #expect(
                try await run("ipmi-sel", freeIPMIOptions(lab, lab.servers[1]) + ["--sdr-cache-directory=\(cache.path)"])
                    .output.contains("CPU Temp") == false)

            try await server.setTemperature(95)
            let hot = try await run("ipmi-sensors", options)
            #expect(hot.output.contains("95.00"), "\(hot.output)")
        }
    }

    @Test func consoleReportsErrors() async throws {
        try await withLab(count: 1) { lab in
            await #expect(throws: LabError.self) {
                _ = try await lab.servers[0].consoleCommand("no_such_command")
            }
            try lab.servers[0].freeze()
            await #expect(throws: LabError.self) {
                _ = try await lab.servers[0].consoleCommand("sensor_set_value 0x20 0x0 0x1 0x30 0x0", timeout: .milliseconds(500))
            }
            try lab.servers[0].thaw()
        }
    }

    @Test func serialPortPrintsBootLogAfterPowerOnAndEchoes() async throws {
        try await withLab { lab in
            let server = lab.servers[1]
            let client = try SerialClient(port: server.serialPort)
            let watcher = try SerialClient(port: server.serialPort)
            try await Task.sleep(for: .milliseconds(600))
            #expect(client.received.isEmpty, "nothing while off")

            _ = try await run(
                "ipmi-chassis-config", freeIPMIOptions(lab, server) + ["--commit", "-e", "Chassis_Boot_Flags:Boot_Device=PXE"])
            _ = try await run("ipmipower", freeIPMIOptions(lab, server) + ["--on"])
            #expect(await client.waitFor("\(server.name) login: "), "\(client.received)")
            #expect(client.received.contains("SeaBIOS"))
            #expect(client.received.contains("Hostname set to <\(server.name)>"))
            #expect(client.received.contains("iPXE"), "boots from the network after a PXE override")
            #expect(client.received.contains(server.macAddress))

            try client.send("hello\r")
            #expect(await client.waitFor("hello\r\n\(server.name) login: "), "\(client.received)")
            #expect(await watcher.waitFor("hello"), "every client sees the machine's output")

            // Power off cuts the log; the next power-on prints it again.
            _ = try await run("ipmipower", freeIPMIOptions(lab, server) + ["--off"])
            try await Task.sleep(for: .milliseconds(400))
            let mark = client.received.count
            _ = try await run("ipmipower", freeIPMIOptions(lab, server) + ["--on"])
            #expect(await client.waitFor("\(server.name) login: ", after: mark), "\(client.received)")
            #expect(client.received.dropFirst(mark).contains("SeaBIOS"))
        }
    }

    @Test func serialPortTicksAndBurstsOnRequest() async throws {
        try await withLab(count: 1, bootLog: false) { lab in
            let server = lab.servers[0]
            let client = try SerialClient(port: server.serialPort)
            try server.setSerialTick(.milliseconds(50))
            try server.startSerialBurst(.init(bytes: 640))
            try await Task.sleep(for: .milliseconds(600))
            #expect(client.received.isEmpty, "a server that is off prints nothing, and forgets the burst")

            _ = try await run("ipmipower", freeIPMIOptions(lab, server) + ["--on"])
            #expect(await client.waitFor("\(server.name) tick 2\r\n"), "\(client.received)")

            // A burst arrives whole and in order; ticks pause meanwhile, so no line is cut.
            let size = 300 * SerialControl.burstLineLength
            try server.startSerialBurst(.init(bytes: size))
            let last = "\(server.name) burst 0000000299 "
            #expect(await client.waitFor(last, timeout: .seconds(10)))
            let burstLines = client.received.components(separatedBy: "\r\n").filter { $0.contains(" burst ") }
            #expect(burstLines.count == 300)
            let numbered = burstLines.enumerated().allSatisfy { index, line in
                line.hasPrefix("\(server.name) burst \(String(format: "%010d", index)) ")
            }
            #expect(numbered, "in order, none lost")

            // A rate limit stretches it: 20 lines at 6,400 bytes/s cannot all arrive sooner than
            // about 0.2 s after the request (a lower bound: a loaded machine only adds to it).
            try server.setSerialTick(nil)
            _ = await client.waitFor("(read whatever comes for a while)", timeout: .milliseconds(600))
            let mark = client.received.count
            let requested = ContinuousClock.now
            try server.startSerialBurst(.init(bytes: 20 * SerialControl.burstLineLength, bytesPerSecond: 6400))
            #expect(await client.waitFor("burst 0000000019 ", after: mark))
            let paced = Double(20 * SerialControl.burstLineLength) / 6400
            #expect(ContinuousClock.now - requested >= .seconds(paced * 0.75), "paced, not all at once")
            _ = await client.waitFor("(read whatever comes for a while)", after: mark, timeout: .milliseconds(400))
            #expect(!client.received.dropFirst(mark).contains("tick"), "the tick stopped")
        }
    }

    @Test func serialOverLANShowsTheBootLog() async throws {
        try await withLab(count: 1) { lab in
            let server = lab.servers[0]
            #expect(server.bmcPort <= 32767, "libipmiconsole refuses higher ports")
            let options = "-h 127.0.0.1:\(server.bmcPort) -u \(lab.username) -p \(lab.password) -W \(Lab.ipmiWorkarounds)"
            let console = try InteractiveTerminal("ipmiconsole \(options)")
            #expect(await console.waitFor("[SOL established]"), "\(console.printed)")
            _ = try await run("ipmipower", freeIPMIOptions(lab, server) + ["--on"])
            #expect(await console.waitFor("\(server.name) login: "), "\(console.printed)")
            // Every other SOL session loses its first keystroke: a throwaway carriage return first.
            console.type("\r")
            try await Task.sleep(for: .milliseconds(500))
            for key in ["a", "b", "\r"] {
                console.type(key)
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(await console.waitFor("b\r\n\(server.name) login: "), "\(console.printed)")
            console.type("&.")
            let output = await console.finish()
            #expect(output.contains("[SOL established]"), "\(output)")
            #expect(output.contains("SeaBIOS"), "\(output)")
            #expect(output.contains("\(server.name) login: "), "\(output)")
            #expect(output.contains("b\r\n\(server.name) login: "), "typed input comes back: \(output)")
        }
    }

    @Test func restartKeepsChassisStateAndSEL() async throws {
        try await withLab(count: 1) { lab in
            let server = lab.servers[0]
            _ = try await run("ipmipower", freeIPMIOptions(lab, server) + ["--on"])
            try await server.addSELEntry(sensorType: 0x01, sensorNumber: 0x01, eventType: 0x01, eventData: [0x07], assertion: true)
            let oldPID = server.pid
            try await server.restart()
            #expect(server.pid != oldPID)
            #expect(server.isRunning)
            #expect(!POSIX.isAlive(oldPID) || !POSIX.isIPMISim(oldPID, configPath: server.launch.configPath))
            #expect(try await run("ipmipower", freeIPMIOptions(lab, server) + ["--stat"]).output.contains(": on"))
            let cache = try sdrCacheDirectory()
            defer { try? FileManager.default.removeItem(at: cache) }
            let sel = try await run("ipmi-sel", freeIPMIOptions(lab, server) + ["--sdr-cache-directory=\(cache.path)"])
            #expect(sel.output.contains("Upper Non-critical - going high"), "\(sel.output)")
            #expect(lab.state?.servers[0].pid == server.pid, "lab.json follows the restart")

            // A frozen BMC restarts too.
            try server.freeze()
            try await server.restart()
            #expect(try await run("ipmipower", freeIPMIOptions(lab, server) + ["--stat"]).output.contains(": on"))
        }
    }

    @Test func stopLeavesNoProcessAndNoFiles() async throws {
        let directory = temporaryLabDirectory()
        let lab = try await Lab.start(LabConfiguration(directory: directory, count: 2))
        let pids = lab.servers.map(\.pid)
        let configs = lab.servers.map(\.launch.configPath)
        #expect(pids.allSatisfy { $0 > 0 })
        for (pid, config) in zip(pids, configs) {
            #expect(POSIX.isIPMISim(pid, configPath: config))
        }

        let state = try #require(try LabState.load(from: directory))
        #expect(state.ownerPID == getpid())
        #expect(state.servers.map(\.pid) == pids)
        #expect(state.servers.map(\.bmcPort) == lab.servers.map(\.bmcPort))
        #expect(state.servers.allSatisfy { $0.isRunning })
        #expect(state.isOwnerRunning)
        #expect(state.driverInfo(for: state.servers[0]) == lab.driverInfo(for: lab.servers[0]))

        // `ironic lab down` from this very process is refused; a second lab here too.
        await #expect(throws: LabError.ownedByThisProcess) { _ = try await Lab.stopRunning(in: directory) }
        await #expect(throws: LabError.self) { _ = try await Lab.start(LabConfiguration(directory: directory, count: 1)) }

        await lab.stop()
        for (pid, config) in zip(pids, configs) {
            #expect(!POSIX.isIPMISim(pid, configPath: config))
            #expect(!POSIX.isAlive(pid))
        }
        #expect(lab.servers.allSatisfy { $0.pid == 0 && !$0.isRunning })
        #expect(!FileManager.default.fileExists(atPath: directory.path), "the lab created the directory and removes it")
        #expect(try await Lab.stopRunning(in: directory).found == false)
        await lab.stop()  // idempotent
        #expect(throws: LabError.notRunning(name: "lab-node-0")) { try lab.servers[0].freeze() }
    }

    @Test func bmcsDieWithTheThreadThatStartedThem() async throws {
        // What makes BMCs die with a process that exits without stop(): PR_SET_PDEATHSIG
        // fires when the spawning thread ends.
        let spawner = Spawner()
        try #require(spawner.tiesChildrenToProcess, "setpriv (util-linux) is missing")
        let pid = try spawner.spawn(executable: "/bin/sleep", arguments: ["30"], logPath: "/dev/null")
        #expect(POSIX.isAlive(pid))
        // setpriv sets the death signal and then execs: a thread that ends before that goes
        // unnoticed (a lab waits far longer: until its BMCs answer).
        #expect(await eventually { POSIX.commandLine(of: pid)?.first == "/bin/sleep" })
        spawner.stop()
        #expect(await eventually { POSIX.reapIfExited(pid) })
        #expect(throws: LabError.self) { try spawner.spawn(executable: "/bin/true", arguments: [], logPath: "/dev/null") }
    }

    @Test func stopKeepsADirectoryItDidNotCreate() async throws {
        let directory = temporaryLabDirectory()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let mine = directory.appendingPathComponent("mine.txt")
        try Data("keep me".utf8).write(to: mine)

        let lab = try await Lab.start(LabConfiguration(directory: directory, count: 1))
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("lab-node-0/lan.conf").path))
        await lab.stop()
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["mine.txt"])
    }

    @Test func fixedPortsFollowTheLayout() async throws {
        // A base port from an unlikely range; skip quietly if something holds it.
        let base = 47_000 + Int.random(in: 0..<600) * 3
        var configuration = LabConfiguration(directory: temporaryLabDirectory(), count: 2, basePort: base)
        configuration.bootLog = false
        let lab: Lab
        do {
            lab = try await Lab.start(configuration)
        } catch LabError.portInUse {
            return
        }
        #expect(lab.servers.map(\.bmcPort) == [base, base + 3])
        #expect(lab.servers.map(\.serialPort) == [base + 1, base + 4])
        #expect(lab.servers.map(\.consolePort) == [base + 2, base + 5])
        #expect(try await run("ipmipower", freeIPMIOptions(lab, lab.servers[1]) + ["--stat"]).output.contains(": off"))
        // The same ports again: refused, and the running lab is untouched.
        var again = configuration
        again.directory = temporaryLabDirectory()
        await #expect(throws: LabError.self) { _ = try await Lab.start(again) }
        #expect(lab.servers.allSatisfy { $0.isRunning })
        await lab.stop()
    }
}
