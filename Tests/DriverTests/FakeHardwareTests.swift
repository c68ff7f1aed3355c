import Core
import HardwareTypes
import Testing

@Suite("fake-hardware interfaces")
struct FakeHardwareTests {
    @Test("Every interface of a fake-hardware node validates")
    func everythingValidates() async throws {
        let (task, driver) = try fakeHardwareTask()
        let results = await driver.validateAll(task)
        #expect(results.count == InterfaceKind.allCases.count)
        for (kind, result) in results {
            #expect(result == InterfaceValidation(result: true, reason: nil), "\(kind)")
        }
    }

    @Test("Power state lives in the node and survives the task")
    func powerPersistsThroughNode() async throws {
        let (task, driver) = try fakeHardwareTask()
        let power = try #require(driver.power)
        #expect(try await power.powerState(of: task) == .off)

        try await power.setPowerState(.on, on: task, timeout: nil)
        #expect(task.node.powerState == .on)
        // A later task on the saved node reads back the same state.
        let next = makeTask(task.node)
        #expect(try await power.powerState(of: next) == .on)

        try await power.setPowerState(.softPowerOff, on: next, timeout: .seconds(5))
        #expect(try await power.powerState(of: next) == .off)
        try await power.setPowerState(.softRebooting, on: next, timeout: nil)
        #expect(next.node.powerState == .on)
    }

    @Test("Reboot ends powered on", arguments: [false, true])
    func rebootEndsOn(soft: Bool) async throws {
        let (task, driver) = try fakeHardwareTask()
        let power = try #require(driver.power)
        try await power.setPowerState(.off, on: task, timeout: nil)
        try await power.reboot(task, soft: soft, timeout: nil)
        #expect(task.node.powerState == .on)
    }

    @Test("Reboot and error are not power targets; the supported list matches Ironic's")
    func powerTargets() async throws {
        let (task, driver) = try fakeHardwareTask()
        let power = try #require(driver.power)
        for target in [PowerState.rebooting, .error] {
            let error = await #expect(throws: IronicError.self) { try await power.setPowerState(target, on: task, timeout: nil) }
            #expect(error?.code == "InvalidParameterValue")
        }
        #expect(power.supportedPowerStates(task) == [.on, .off, .rebooting, .softRebooting, .softPowerOff])
    }

    @Test("Boot device set and get round trip through driver_internal_info")
    func bootDeviceRoundTrip() async throws {
        let (task, driver) = try fakeHardwareTask()
        let management = try #require(driver.management)
        #expect(try await management.supportedBootDevices(task) == [.pxe])
        #expect(try await management.bootDevice(of: task) == BootDeviceState(bootDevice: .pxe, persistent: false))

        try await management.setBootDevice(.pxe, persistent: true, on: task)
        #expect(task.node.driverInternalInfo["fake_boot_device"] == "pxe")
        #expect(task.node.driverInternalInfo["fake_boot_device_persistent"] == true)
        #expect(try await management.bootDevice(of: makeTask(task.node)) == BootDeviceState(bootDevice: .pxe, persistent: true))

        let error = await #expect(throws: IronicError.self) { try await management.setBootDevice(.disk, persistent: false, on: task) }
        #expect(error?.code == "InvalidParameterValue")
        #expect(error?.message == "Invalid boot device disk specified.")
    }

    @Test("NMI injection is refused, as by Ironic's fake")
    func injectNMI() async throws {
        let (task, driver) = try fakeHardwareTask()
        let management = try #require(driver.management)
        let error = await #expect(throws: IronicError.self) { try await management.injectNMI(task) }
        #expect(error?.code == "UnsupportedDriverExtension")
        #expect(error?.message == unsupportedMessage("inject_nmi"))
    }

    @Test("Console start and stop flip the node's flag")
    func console() async throws {
        let (task, driver) = try fakeHardwareTask()
        let console = try #require(driver.console)
        try await console.startConsole(task)
        #expect(task.node.consoleEnabled)
        #expect(try await console.consoleInfo(task) == ConsoleInfo(type: "fake", url: "fake://\(task.node.uuid)"))
        try await console.stopConsole(task)
        #expect(!task.node.consoleEnabled)
    }

    @Test("Deploy, inspection and rescue finish at once")
    func immediateOperations() async throws {
        let (task, driver) = try fakeHardwareTask()
        #expect(try await driver.deploy?.deploy(task) == .done)
        try await driver.deploy?.tearDown(task)
        #expect(try await driver.inspect?.inspectHardware(task) == .done)
        #expect(try await driver.rescue?.rescue(task) == .done)
        try await driver.rescue?.unrescue(task)
        try await driver.boot?.prepareInstance(task)
        try await driver.boot?.cleanUpInstance(task)
    }
}
