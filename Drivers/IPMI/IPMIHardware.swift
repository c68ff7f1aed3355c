import Core
import GenericInterfaces
import IPMI

extension HardwareType {
    /// `ipmi`: Ironic's `IPMIHardware`, the generic lists with the IPMI implementations in front.
    ///
    /// - power: `ipmi`, `ipmitool` (the same implementation under Ironic's name)
    /// - management: `ipmi`, `ipmitool`
    /// - vendor: `ipmi`, `ipmitool`, `no-vendor`
    /// - console: `no-console` (the default, as in Ironic), `ipmi-proxy` (serial-over-LAN
    ///   through `ironic-ipmiproxy`) and its Ironic alias `ipmitool-socat`
    /// - deploy, boot: Ironic's generic lists (`direct` and `ipxe`, `pxe` are the shipped
    ///   defaults), then `fake`, which powers and sets boot devices for real but writes no
    ///   image: for trying the state machine on real BMCs without a ramdisk.
    /// - network, inspect, raid, rescue, storage, bios, firmware: the generic lists
    ///   (`noop`, `agent` inspection, `no-raid`, `no-rescue`, `noop`, `no-bios`, `no-firmware`).
    public static let ipmi: HardwareType = {
        var lists = GenericHardware.hardwareType(
            named: "ipmi",
            replacing: [
                .power: ["ipmi", "ipmitool"],
                .management: ["ipmi", "ipmitool"],
                .vendor: ["ipmi", "ipmitool", "no-vendor"],
                .console: ["no-console", "ipmi-proxy", "ipmitool-socat"],
            ]
        ).supported
        lists[.deploy, default: []].append("fake")
        lists[.boot, default: []].append("fake")
        return HardwareType(name: "ipmi", supported: lists)
    }()
}

/// The ipmi interface implementations of one service, all over one BMC client.
///
/// ```swift
/// let client = FreeIPMIClient(threads: 16, minimumCommandInterval: .seconds(1), retryTimeout: .seconds(60), logger: logger)
/// let ipmi = IPMIInterfaces(client: client, settings: IPMIDriverSettings(ipmi: config.ipmi, conductor: config.conductor))
/// var catalog = InterfaceCatalog()
/// ipmi.register(in: &catalog)   // power/management/vendor "ipmi", and "ipmitool" for each
/// ```
public struct IPMIInterfaces: Sendable {
    /// `ipmi` power.
    public let power: IPMIPower
    /// `ipmi` management; its `resetBMC(_:warm:)` backs the `reset_bmc` steps.
    public let management: IPMIManagement
    /// `ipmi` vendor passthru.
    public let vendor: IPMIVendor
    /// `ipmi-proxy` console.
    public let console: IPMIProxyConsole

    /// Ironic's entry point name for each ipmi implementation, registered as an alias so nodes
    /// and configuration written for Ironic (`power_interface = ipmitool`) keep working.
    public static let ironicAlias = "ipmitool"

    /// Creates the implementations over `client`.
    public init(
        client: any BMCClient, settings: IPMIDriverSettings = IPMIDriverSettings(),
        console: IPMIProxyConsoleSettings = IPMIProxyConsoleSettings()
    ) {
        self.console = IPMIProxyConsole(settings: console, driverSettings: settings)
        power = IPMIPower(client: client, settings: settings)
        management = IPMIManagement(client: client, settings: settings)
        vendor = IPMIVendor(client: client, settings: settings)
    }

    /// The `ipmi` hardware type and these implementations under their own names.
    public var entryPoints: DriverEntryPoints {
        DriverEntryPoints(hardwareTypes: [.ipmi], interfaces: [power, management, vendor, console])
    }

    /// Adds the `ipmitool` aliases to `catalog` (`entryPoints` registers the `ipmi` names).
    public func registerAliases(in catalog: inout InterfaceCatalog) {
        catalog.register(power, alias: Self.ironicAlias)
        catalog.register(management, alias: Self.ironicAlias)
        catalog.register(vendor, alias: Self.ironicAlias)
        catalog.register(console, alias: IPMIProxyConsole.ironicAlias)
    }

    /// Adds the implementations to `catalog` under `ipmi` and `ipmitool`.
    public func register(in catalog: inout InterfaceCatalog) {
        entryPoints.register(in: &catalog)
        registerAliases(in: &catalog)
    }
}

extension DriverEntryPoints {
    /// The `ipmi` hardware type and its interfaces over `interfaces`' BMC client. The
    /// `ipmitool` aliases are not part of it: add them with `IPMIInterfaces.registerAliases(in:)`.
    public static func ipmi(_ interfaces: IPMIInterfaces) -> DriverEntryPoints {
        interfaces.entryPoints
    }
}
