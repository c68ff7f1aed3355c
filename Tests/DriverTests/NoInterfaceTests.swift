import Core
import HardwareTypes
import Testing

@Suite("no-* interfaces")
struct NoInterfaceTests {
    /// fake-hardware with every optional kind on its no-op implementation.
    static let config = DriverConfig(
        enabledHardwareTypes: ["fake-hardware"],
        defaultInterfaces: [
            .bios: "no-bios", .console: "no-console", .firmware: "no-firmware", .inspect: "no-inspect",
            .raid: "no-raid", .rescue: "no-rescue", .storage: "noop", .vendor: "no-vendor",
        ])

    @Test("no-* fail validation with UnsupportedDriverExtension; noop network and storage pass")
    func validation() async throws {
        let (task, driver) = try fakeHardwareTask(config: Self.config)
        let results = await driver.validateAll(task)
        for kind in [InterfaceKind.bios, .console, .firmware, .inspect, .raid, .rescue, .vendor] {
            #expect(results[kind] == InterfaceValidation(result: false, reason: unsupportedMessage(kind.rawValue)))
            let error = await #expect(throws: IronicError.self) { try await driver.interface(kind)?.validate(task) }
            #expect(error?.code == "UnsupportedDriverExtension")
            #expect(error?.status == 400)
        }
        for kind in [InterfaceKind.network, .storage, .power, .management, .boot, .deploy] {
            #expect(results[kind]?.result == true, "\(kind)")
        }
    }

    @Test("no-* refuse their operations")
    func operationsRefused() async throws {
        let (task, driver) = try fakeHardwareTask(config: Self.config)
        let console = try #require(driver.console)
        let rescue = try #require(driver.rescue)
        let inspect = try #require(driver.inspect)
        let vendor = try #require(driver.vendor)
        #expect(vendor.routes.isEmpty)

        let failures: [(String, () async throws -> Void)] = [
            ("console", { try await console.startConsole(task) }),
            ("console", { try await console.stopConsole(task) }),
            ("console", { _ = try await console.consoleInfo(task) }),
            ("rescue", { _ = try await rescue.rescue(task) }),
            ("rescue", { try await rescue.unrescue(task) }),
            ("inspect", { _ = try await inspect.inspectHardware(task) }),
            ("vendor", { _ = try await vendor.call("second_method", httpMethod: "POST", body: nil, task: task) }),
        ]
        for (kind, operation) in failures {
            let error = await #expect(throws: IronicError.self) { try await operation() }
            #expect(error?.message == unsupportedMessage(kind))
        }
    }
}
