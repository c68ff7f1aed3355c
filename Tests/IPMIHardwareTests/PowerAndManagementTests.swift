import Core
import IPMI
import IPMIHardware
import Testing

private let info: [String: JSONValue] = [
    "ipmi_address": "10.0.0.5", "ipmi_username": "admin", "ipmi_password": "secret", "ipmi_workarounds": "opensesspriv",
]

private func setUp(_ driverInfo: [String: JSONValue] = info, shared: Bool = false) -> (MockBMC, IPMIInterfaces, NodeTask) {
    let bmc = MockBMC()
    return (bmc, IPMIInterfaces(client: bmc, settings: fastSettings), makeTask(ipmiNode(driverInfo), shared: shared))
}

@Suite("ipmi power against a BMC in memory")
struct PowerTests {
    @Test("Power state comes from chassis status, with the node's session options")
    func powerState() async throws {
        let (bmc, ipmi, task) = setUp()
        #expect(try await ipmi.power.powerState(of: task) == .off)
        await bmc.setPower(true)
        #expect(try await ipmi.power.powerState(of: task) == .on)
        let session = try #require(await bmc.sessions.last)
        #expect(session.endpoint == "10.0.0.5:623")
        #expect(session.username == "admin")
        #expect(session.password == "secret")
        #expect(session.workarounds == ["opensesspriv"])
        #expect(session.sessionTimeout == fastSettings.sessionTimeout)
    }

    @Test("Power on and off wait for the state; a state already reached costs one read")
    func onAndOff() async throws {
        let (bmc, ipmi, task) = setUp()
        await bmc.setLag(2)
        try await ipmi.power.setPowerState(.on, on: task, timeout: nil)
        #expect(await bmc.powerOn)
        #expect(await bmc.log == ["status", "on", "status", "status", "status"])
        await bmc.clearLog()
        try await ipmi.power.setPowerState(.on, on: task, timeout: nil)
        #expect(await bmc.log == ["status"])
        await bmc.clearLog()
        try await ipmi.power.setPowerState(.off, on: task, timeout: nil)
        #expect(await bmc.powerOn == false)
        #expect(await bmc.log.prefix(2) == ["status", "off"])
    }

    @Test("Reboot is power off, wait, power on, wait")
    func reboot() async throws {
        let (bmc, ipmi, task) = setUp()
        await bmc.setPower(true)
        try await ipmi.power.reboot(task, soft: false, timeout: nil)
        #expect(await bmc.powerOn)
        #expect(await bmc.log == ["status", "off", "status", "on", "status"])
        await bmc.setPower(false)
        await bmc.clearLog()
        try await ipmi.power.reboot(task, soft: false, timeout: nil)
        #expect(await bmc.log == ["status", "on", "status"])
    }

    @Test("Soft power off and soft reboot use the soft shutdown request")
    func soft() async throws {
        let (bmc, ipmi, task) = setUp()
        await bmc.setPower(true)
        try await ipmi.power.setPowerState(.softPowerOff, on: task, timeout: nil)
        #expect(await bmc.log == ["status", "soft", "status"])
        #expect(await bmc.powerOn == false)
        await bmc.setPower(true)
        await bmc.clearLog()
        try await ipmi.power.reboot(task, soft: true, timeout: nil)
        #expect(await bmc.log == ["status", "soft", "status", "on", "status"])
        await bmc.clearLog()
        try await ipmi.power.setPowerState(.softRebooting, on: task, timeout: nil)
        #expect(await bmc.log == ["status", "soft", "status", "on", "status"])
    }

    @Test("A node that ignores soft power off fails with PowerStateFailure after the timeout and stays on")
    func softPowerOffTimesOut() async throws {
        let (bmc, ipmi, task) = setUp()
        await bmc.setPower(true)
        await bmc.setIgnoresSoftShutdown(true)
        let clock = ContinuousClock()
        let start = clock.now
        let error = await #expect(throws: IronicError.self) {
            try await ipmi.power.setPowerState(.softPowerOff, on: task, timeout: .milliseconds(200))
        }
        #expect(start.duration(to: clock.now) >= .milliseconds(200))
        #expect(error?.code == "PowerStateFailure")
        #expect(error?.status == 409)
        #expect(error?.message.hasPrefix("Failed to set node power state to power off: the node was still power on after") == true)
        #expect(await bmc.powerOn)
        #expect(await bmc.log.contains("off") == false)
    }

    @Test("rebooting and error are not targets of setPowerState")
    func invalidTargets() async throws {
        let (_, ipmi, task) = setUp()
        for target in [PowerState.rebooting, .error] {
            let error = await #expect(throws: IronicError.self) { try await ipmi.power.setPowerState(target, on: task, timeout: nil) }
            #expect(error?.code == "InvalidParameterValue")
        }
        #expect(ipmi.power.supportedPowerStates(task) == [.on, .off, .rebooting, .softRebooting, .softPowerOff])
    }

    @Test("BMC failures become IPMIFailure with a hint; the password never appears")
    func failures() async throws {
        let (bmc, ipmi, task) = setUp()
        await bmc.setFailure(IPMIError(kind: .authentication, message: "password invalid"))
        let auth = await #expect(throws: IronicError.self) { try await ipmi.power.powerState(of: task) }
        #expect(auth?.code == "IPMIFailure")
        #expect(auth?.status == 500)
        #expect(auth?.message.contains("power status: password invalid") == true)
        #expect(auth?.message.contains("ipmi_password") == true)
        #expect(auth?.message.contains("secret") == false)
        await bmc.setFailure(IPMIError(kind: .timeout, message: "session timeout"))
        let timeout = await #expect(throws: IronicError.self) { try await ipmi.power.setPowerState(.on, on: task, timeout: nil) }
        #expect(timeout?.message.contains("10.0.0.5:623 did not answer") == true)
    }

    @Test("Changes need the exclusive lock")
    func sharedLock() async throws {
        let (_, ipmi, task) = setUp(shared: true)
        let error = await #expect(throws: IronicError.self) { try await ipmi.power.setPowerState(.on, on: task, timeout: nil) }
        #expect(error?.code == "ExclusiveLockRequired")
        _ = try await ipmi.power.powerState(of: task)
    }
}

@Suite("ipmi management against a BMC in memory")
struct ManagementTests {
    @Test("Ironic's boot devices for IPMI")
    func supported() async throws {
        let (_, ipmi, task) = setUp()
        #expect(try await ipmi.management.supportedBootDevices(task) == [.pxe, .disk, .cdrom, .bios, .safe])
        let error = await #expect(throws: IronicError.self) {
            try await ipmi.management.setBootDevice(.wanboot, persistent: false, on: task)
        }
        #expect(error?.code == "InvalidParameterValue")
    }

    @Test("Boot device set and read back; EFI follows the boot mode (UEFI unless the node says bios)")
    func setAndGet() async throws {
        let (bmc, ipmi, task) = setUp()
        try await ipmi.management.setBootDevice(.pxe, persistent: true, on: task)
        #expect(await bmc.log.last == "bootdev pxe persistent efi")
        #expect(try await ipmi.management.bootDevice(of: task) == BootDeviceState(bootDevice: .pxe, persistent: true))
        task.updateNode { $0.properties["capabilities"] = "boot_mode:bios,cpu_vt:true" }
        try await ipmi.management.setBootDevice(.disk, persistent: false, on: task)
        #expect(await bmc.log.last == "bootdev disk")
        #expect(try await ipmi.management.bootDevice(of: task) == BootDeviceState(bootDevice: .disk, persistent: false))
    }

    @Test("Boot mode precedence")
    func bootMode() {
        var node = ipmiNode()
        #expect(BootMode.of(node) == .uefi)
        node.bootMode = "bios"
        #expect(BootMode.of(node) == .bios)
        node.properties["capabilities"] = ["boot_mode": "uefi"]
        #expect(BootMode.of(node) == .uefi)
        node.instanceInfo["capabilities"] = "{\"boot_mode\": \"bios\"}"
        #expect(BootMode.of(node) == .bios)
        node.instanceInfo["capabilities"] = "{\"boot_mode\": \"bios\", \"secure_boot\": \"true\"}"
        #expect(BootMode.of(node) == .uefi)
    }

    @Test("ipmi_force_boot_device keeps the persistent device and re-applies it before each power on")
    func forcedBootDevice() async throws {
        var forced = info
        forced["ipmi_force_boot_device"] = true
        let (bmc, ipmi, task) = setUp(forced)
        try await ipmi.management.setBootDevice(.pxe, persistent: true, on: task)
        // The BMC only ever gets a one-time device; the node remembers the persistent choice.
        #expect(await bmc.log.last == "bootdev pxe efi")
        #expect(task.node.driverInternalInfo["persistent_boot_device"] == "pxe")
        #expect(try await ipmi.management.bootDevice(of: task) == BootDeviceState(bootDevice: .pxe, persistent: true))

        await bmc.clearLog()
        try await ipmi.power.setPowerState(.on, on: task, timeout: nil)
        #expect(await bmc.log == ["status", "bootdev pxe efi", "on", "status"])
        await bmc.clearLog()
        try await ipmi.power.reboot(task, soft: false, timeout: nil)
        #expect(await bmc.log == ["status", "off", "status", "bootdev pxe efi", "on", "status"])

        // A one-time device wins the next boot only.
        try await ipmi.management.setBootDevice(.cdrom, persistent: false, on: task)
        #expect(task.node.driverInternalInfo["is_next_boot_persistent"] == false)
        #expect(try await ipmi.management.bootDevice(of: task).bootDevice == .cdrom)
        await bmc.clearLog()
        try await ipmi.power.reboot(task, soft: false, timeout: nil)
        #expect(await bmc.log == ["status", "off", "status", "on", "status"])
        #expect(task.node.driverInternalInfo["is_next_boot_persistent"] == nil)
        await bmc.clearLog()
        try await ipmi.power.reboot(task, soft: false, timeout: nil)
        #expect(await bmc.log.contains("bootdev pxe efi"))
    }

    @Test("NMI is a diagnostic interrupt; sensors and BMC reset reach the BMC")
    func nmiSensorsReset() async throws {
        let (bmc, ipmi, task) = setUp()
        try await ipmi.management.injectNMI(task)
        #expect(await bmc.log.last == "diag")
        #expect(try await ipmi.management.sensors(task).first?.name == "Temp")
        try await ipmi.management.resetBMC(task, warm: false)
        #expect(await bmc.log.suffix(2) == ["mc info", "bmc reset cold"])
        try await ipmi.management.runStep("reset_bmc", args: [:], task: task)
        #expect(await bmc.resets == [false, true])
        #expect(ipmi.management.stepNames == ["reset_bmc"])
    }

    @Test("A reset the BMC never answers counts as done; an unreachable BMC does not")
    func resetTimeout() async throws {
        let (bmc, ipmi, task) = setUp()
        await bmc.setResetFailure(IPMIError(kind: .timeout, message: "session timeout"))
        try await ipmi.management.resetBMC(task, warm: true)
        #expect(await bmc.resets == [true])
        await bmc.setResetFailure(IPMIError(kind: .invalidRequest, completionCode: 0xc1, message: "invalid command"))
        let refused = await #expect(throws: IronicError.self) { try await ipmi.management.resetBMC(task, warm: true) }
        #expect(refused?.message.contains("bmc reset warm") == true)
        await bmc.setFailure(IPMIError(kind: .timeout, message: "session timeout"))
        let error = await #expect(throws: IronicError.self) { try await ipmi.management.resetBMC(task, warm: true) }
        #expect(error?.message.contains("mc info") == true)
    }

    @Test("Sensor failures are FailedToGetSensorData")
    func sensorFailure() async throws {
        let (bmc, ipmi, task) = setUp()
        await bmc.setFailure(IPMIError(kind: .completionCode, completionCode: 0xcb, message: "requested data not present"))
        let error = await #expect(throws: IronicError.self) { _ = try await ipmi.management.sensors(task) }
        #expect(error?.code == "FailedToGetSensorData")
        #expect(error?.message.contains("0xcb") == true)
    }
}

@Suite("ipmi vendor passthru against a BMC in memory")
struct VendorTests {
    @Test("bmc_reset: POST, synchronous, warm by default")
    func bmcReset() async throws {
        let (bmc, ipmi, task) = setUp()
        let route = try #require(ipmi.vendor.routes["bmc_reset"])
        #expect(route.httpMethods == ["POST"])
        #expect(route.async == false)
        #expect(try await ipmi.vendor.call("bmc_reset", httpMethod: "POST", body: nil, task: task) == nil)
        _ = try await ipmi.vendor.call("bmc_reset", httpMethod: "POST", body: ["warm": false], task: task)
        _ = try await ipmi.vendor.call("bmc_reset", httpMethod: "POST", body: ["warm": "true"], task: task)
        #expect(await bmc.resets == [true, false, true])
    }

    @Test("Bad calls are InvalidParameterValue before the BMC is touched")
    func badCalls() async throws {
        let (bmc, ipmi, task) = setUp()
        for (method, verb, body) in [
            ("send_raw", "POST", nil), ("bmc_reset", "GET", nil), ("bmc_reset", "POST", ["warm": "sometimes"]),
            ("bmc_reset", "POST", "warm"),
        ] as [(String, String, JSONValue?)] {
            let error = await #expect(throws: IronicError.self) {
                _ = try await ipmi.vendor.call(method, httpMethod: verb, body: body, task: task)
            }
            #expect(error?.code == "InvalidParameterValue")
        }
        #expect(await bmc.log.isEmpty)
    }
}
