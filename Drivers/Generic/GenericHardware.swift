import Core

/// Ironic's `GenericHardware`: the supported interface lists most hardware types start from.
///
/// The lists name Ironic's entry points in Ironic's order, including implementations this build
/// does not ship yet (`ipxe`, `direct`, `flat`, ...). `DriverRegistry` only enables names the
/// catalog knows, so an unshipped name is skipped today and takes its Ironic position as soon as
/// a target ships it, without touching the hardware types that list it.
public enum GenericHardware {
    /// Supported names per kind. Power and management are absent: every concrete hardware
    /// type must choose its own, as in Ironic.
    public static let supported: [InterfaceKind: [String]] = [
        // Kinds GenericHardware leaves at AbstractHardwareType's defaults.
        .bios: ["no-bios"],
        .vendor: ["no-vendor"],
        // Kinds GenericHardware overrides.
        .boot: ["ipxe", "pxe", "http-ipxe", "http"],
        .console: ["no-console", "fake-graphical"],
        .deploy: ["autodetect", "direct", "ansible", "ramdisk", "anaconda", "bootc", "custom-agent"],
        .firmware: ["no-firmware"],
        .inspect: ["agent", "no-inspect"],
        .network: ["flat", "neutron", "ironic-networking", "noop"],
        // The agent implementations need ramdisk features that are not always present, so
        // Ironic keeps the no-op first and the default safe.
        .raid: ["no-raid", "agent"],
        .rescue: ["no-rescue", "agent"],
        .storage: ["noop", "cinder", "external"],
    ]

    /// A hardware type derived from the generic lists, the way Ironic subclasses `GenericHardware`.
    ///
    /// - Parameters:
    ///   - name: The hardware type's name (a node's `driver`).
    ///   - preferring: Names placed ahead of the generic list of their kind (Ironic's
    ///     `[mine] + super().supported_x_interfaces`).
    ///   - replacing: Whole lists that stand instead of the generic one (an override that does
    ///     not call `super`).
    public static func hardwareType(
        named name: String,
        preferring: [InterfaceKind: [String]] = [:],
        replacing: [InterfaceKind: [String]] = [:]
    ) -> HardwareType {
        var lists = supported
        for (kind, names) in preferring {
            lists[kind] = names + (lists[kind] ?? []).filter { !names.contains($0) }
        }
        for (kind, names) in replacing {
            lists[kind] = names
        }
        return HardwareType(name: name, supported: lists)
    }
}

extension DriverEntryPoints {
    /// The interfaces every hardware type may use: the `noop` network and storage and the
    /// `no-*` placeholders. Defines no hardware type of its own.
    public static let generic = DriverEntryPoints(interfaces: [
        NoBIOS(), NoConsole(), NoFirmware(), NoInspect(), NoRAID(), NoRescue(), NoVendor(),
        NoopNetwork(), NoopStorage(),
    ])
}
