import Core
import Foundation
import HardwareTypes
import IPMI
import IPMIHardware
import Lab
import Logging
import Testing

/// Starts a lab of `count` ipmi_sim servers in a fresh directory and stops it when `body` ends.
private func withLab<T>(count: Int = 1, _ body: (Lab) async throws -> T) async throws -> T {
    try await Lab.withTemporaryLab(count: count, body)
}

/// The ipmi interfaces over a real FreeIPMI client with short pacing and timeouts.
private func labInterfaces(retryTimeout: Duration = .seconds(2)) -> IPMIInterfaces {
    let client = FreeIPMIClient(
        threads: 4, minimumCommandInterval: .milliseconds(20), retryTimeout: retryTimeout,
        logger: Logger(label: "IPMIHardwareTests"))
    let settings = IPMIDriverSettings(
        sessionTimeout: .seconds(1), powerStateChangeTimeout: .seconds(10), softPowerOffTimeout: .seconds(10),
        pollInterval: .milliseconds(50), maximumPollInterval: .milliseconds(200))
    return IPMIInterfaces(client: client, settings: settings)
}

/// A task on an ipmi node enrolled with the lab's driver_info for `server`.
private func labTask(_ lab: Lab, _ server: SimulatedServer, overriding extra: [String: JSONValue] = [:]) -> NodeTask {
    var info = lab.driverInfo(for: server).mapValues(JSONValue.string)
    info.merge(extra) { _, new in new }
    return makeTask(ipmiNode(info))
}

@Suite("ipmi interfaces against ipmi_sim", .timeLimit(.minutes(3)))
struct LabIntegrationTests {
    @Test("Power on, off, reboot, soft power off and soft reboot reach the simulated server")
    func power() async throws {
        try await withLab { lab in
            let server = lab.servers[0]
            let ipmi = labInterfaces()
            let task = labTask(lab, server)
            try await ipmi.power.validate(task)

            try await ipmi.power.setPowerState(.on, on: task, timeout: nil)
            #expect(server.powerOn)
            #expect(try await ipmi.power.powerState(of: task) == .on)

            try await ipmi.power.setPowerState(.off, on: task, timeout: nil)
            #expect(!server.powerOn)
            #expect(try await ipmi.power.powerState(of: task) == .off)

            try await ipmi.power.setPowerState(.on, on: task, timeout: nil)
            let boots = server.bootCount
            try await ipmi.power.reboot(task, soft: false, timeout: nil)
            #expect(server.powerOn)
            #expect(server.bootCount == boots + 1)

            try await ipmi.power.setPowerState(.softPowerOff, on: task, timeout: nil)
            #expect(!server.powerOn)

            try await ipmi.power.reboot(task, soft: true, timeout: nil)
            #expect(server.powerOn)
            #expect(try await ipmi.power.powerState(of: task) == .on)
        }
    }

    @Test("Boot devices reach the simulated server and read back")
    func bootDevice() async throws {
        try await withLab { lab in
            let server = lab.servers[0]
            let ipmi = labInterfaces()
            let task = labTask(lab, server)
            for (device, persistent, simulated) in [
                (BootDevice.pxe, true, "pxe"), (.cdrom, false, "cdrom"), (.bios, false, "bios"), (.disk, true, "disk"),
                (.pxe, false, "pxe"),
            ] {
                try await ipmi.management.setBootDevice(device, persistent: persistent, on: task)
                #expect(server.bootDevice == simulated)
                // ipmi_sim keeps only the device, not the persistence bit.
                #expect(try await ipmi.management.bootDevice(of: task).bootDevice == device)
            }
            // Legacy BIOS boot mode takes the same path without the EFI bit.
            task.updateNode { $0.properties["capabilities"] = "boot_mode:bios" }
            try await ipmi.management.setBootDevice(.cdrom, persistent: true, on: task)
            #expect(server.bootDevice == "cdrom")
        }
    }

    @Test("ipmi_force_boot_device sends the persistent device again at power on")
    func forcedBootDevice() async throws {
        try await withLab { lab in
            let server = lab.servers[0]
            let ipmi = labInterfaces()
            let task = labTask(lab, server, overriding: ["ipmi_force_boot_device": "true"])
            try await ipmi.management.setBootDevice(.pxe, persistent: true, on: task)
            #expect(server.bootDevice == "pxe")
            // Something else (a BMC that forgets, an operator at the console) changes the device.
            let plain = labTask(lab, server)
            try await ipmi.management.setBootDevice(.disk, persistent: false, on: plain)
            #expect(server.bootDevice == "disk")
            try await ipmi.power.reboot(task, soft: false, timeout: nil)
            #expect(server.powerOn)
            #expect(server.bootDevice == "pxe")
        }
    }

    @Test("A wrong password validates (no BMC contact) but power fails with a clear error")
    func wrongPassword() async throws {
        try await withLab { lab in
            let server = lab.servers[0]
            let ipmi = labInterfaces(retryTimeout: .zero)
            let task = labTask(lab, server, overriding: ["ipmi_password": "not-the-password"])
            try await ipmi.power.validate(task)
            let error = await #expect(throws: IronicError.self) { try await ipmi.power.setPowerState(.on, on: task, timeout: nil) }
            #expect(error?.code == "IPMIFailure")
            #expect(error?.message.contains("power status") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("check ipmi_username, ipmi_password") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("not-the-password") == false)
            #expect(!server.powerOn)
        }
    }

    @Test("Without the opensesspriv workaround ipmi_sim refuses IPMI 2.0 sessions; IPMI 1.5 needs none")
    func workaroundsMatter() async throws {
        try await withLab { lab in
            let server = lab.servers[0]
            let ipmi = labInterfaces(retryTimeout: .zero)
            let bare = labTask(lab, server, overriding: ["ipmi_workarounds": ""])
            let error = await #expect(throws: IronicError.self) { try await ipmi.power.powerState(of: bare) }
            #expect(error?.code == "IPMIFailure")
            let lan = labTask(lab, server, overriding: ["ipmi_workarounds": "", "ipmi_protocol_version": "1.5"])
            let state = try await ipmi.power.powerState(of: lan)
            #expect(state == .off)
        }
    }

    @Test("A frozen BMC fails within the session timeout, and answers again once thawed")
    func frozenBMC() async throws {
        try await withLab { lab in
            let server = lab.servers[0]
            let ipmi = labInterfaces(retryTimeout: .zero)
            let task = labTask(lab, server)
            #expect(try await ipmi.power.powerState(of: task) == .off)
            try server.freeze()
            let clock = ContinuousClock()
            let start = clock.now
            let error = await #expect(throws: IronicError.self) { try await ipmi.power.powerState(of: task) }
            try server.thaw()
            #expect(start.duration(to: clock.now) < .seconds(10))
            #expect(error?.code == "IPMIFailure")
            #expect(error?.message.contains("did not answer") == true, "\(error?.message ?? "")")
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await ipmi.power.powerState(of: task) == .off)
        }
    }

    @Test("bmc_reset reaches the BMC: ipmi_sim does not implement resets and says so; the BMC stays up")
    func bmcReset() async throws {
        try await withLab { lab in
            let server = lab.servers[0]
            let ipmi = labInterfaces()
            let task = labTask(lab, server)
            for body in [nil, ["warm": false]] as [JSONValue?] {
                let error = await #expect(throws: IronicError.self) {
                    _ = try await ipmi.vendor.call("bmc_reset", httpMethod: "POST", body: body, task: task)
                }
                #expect(error?.code == "IPMIFailure")
                let kind = body == nil ? "warm" : "cold"
                #expect(error?.message.contains("bmc reset \(kind)") == true, "\(error?.message ?? "")")
                #expect(error?.message.contains("0xc1") == true, "\(error?.message ?? "")")
            }
            let state = try await ipmi.power.powerState(of: task)
            #expect(state == .off)
        }
    }

    @Test("NMI: ipmi_sim has no diagnostic interrupt and the refusal is reported; sensors are read")
    func nmiAndSensors() async throws {
        try await withLab { lab in
            let server = lab.servers[0]
            let ipmi = labInterfaces()
            let task = labTask(lab, server)
            let error = await #expect(throws: IronicError.self) { try await ipmi.management.injectNMI(task) }
            #expect(error?.code == "IPMIFailure")
            #expect(error?.message.contains("chassis power diag") == true)
            let sensors = try await ipmi.management.sensors(task)
            #expect(sensors.contains { $0.name == "CPU Temp" }, "\(sensors)")
        }
    }

    @Test("The service registry shares one FreeIPMI client across nodes")
    func serviceRegistry() async throws {
        try await withLab(count: 2) { lab in
            var config = IronicConfig()
            config.drivers.enabledHardwareTypes = ["ipmi"]
            config.ipmi.minCommandInterval = .milliseconds(20)
            config.ipmi.sessionTimeout = .seconds(1)
            config.conductor.powerStateChangeTimeout = .seconds(10)
            let registry = try ShippedHardware.registry(
                config: config.drivers, ipmi: config.ipmi, conductor: config.conductor, logger: Logger(label: "IPMIHardwareTests"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for server in lab.servers {
                    var node = Node(driver: "ipmi")
                    node.driverInfo = lab.driverInfo(for: server).mapValues(JSONValue.string)
                    try registry.resolveInterfaces(of: &node)
                    let power = try #require(try registry.driver(for: node).power)
                    let task = makeTask(node)
                    group.addTask { try await power.setPowerState(.on, on: task, timeout: nil) }
                }
                try await group.waitForAll()
            }
            let allOn = lab.servers.allSatisfy { $0.powerOn }
            #expect(allOn)
        }
    }
}
