import Core
import GenericInterfaces

extension HardwareType {
    /// `fake-hardware`: Ironic's `FakeHardware`, the generic lists with `fake` in front of each,
    /// and only `fake` for power and management.
    ///
    /// Ironic also lets a fake-hardware node use any enabled implementation, supported or not;
    /// `DriverRegistry` has no such exception, so here the lists are binding.
    public static let fakeHardware = GenericHardware.hardwareType(
        named: "fake-hardware",
        preferring: [
            .bios: ["fake"], .boot: ["fake"], .console: ["fake"], .deploy: ["fake"], .firmware: ["fake"],
            .inspect: ["fake"], .raid: ["fake"], .rescue: ["fake"], .storage: ["fake"], .vendor: ["fake"],
        ],
        replacing: [.management: ["fake"], .power: ["fake"]]
    )
}

extension DriverEntryPoints {
    /// The `fake-hardware` hardware type and the `fake` implementation of every kind but network.
    public static let fakeHardware = fakeHardware(FakeConfig())

    /// `fakeHardware` with `[fake]`'s delays.
    public static func fakeHardware(_ config: FakeConfig) -> DriverEntryPoints {
        DriverEntryPoints(
            hardwareTypes: [.fakeHardware],
            interfaces: [
                FakeBIOS(), FakeBoot(), FakeConsole(), FakeDeploy(delay: config.deploy), FakeFirmware(), FakeInspect(),
                FakeManagement(), FakePower(delay: config.power), FakeRAID(), FakeRescue(), FakeStorage(), FakeVendor(),
            ]
        )
    }
}
