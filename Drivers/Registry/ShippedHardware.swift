import Core
import FakeHardware
import GenericInterfaces

/// Every hardware type and interface implementation this build ships, by name: what
/// configuration's `enabled_*` options choose from.
///
/// A driver target joins by becoming a dependency of this target and adding its
/// `DriverEntryPoints` to `entryPoints`.
///
/// ```swift
/// let registry = try ShippedHardware.registry(config: config.drivers)
/// var node = Node(driver: "fake-hardware")
/// try registry.resolveInterfaces(of: &node)   // power_interface = "fake", network_interface = "noop", ...
/// ```
public enum ShippedHardware {
    /// The driver targets linked into this build, generic interfaces first.
    public static let entryPoints: [DriverEntryPoints] = [.generic, .fakeHardware]

    /// Every hardware type shipped, in the order the targets list them.
    public static var hardwareTypes: [HardwareType] { entryPoints.flatMap(\.hardwareTypes) }

    /// Every interface implementation shipped, by kind and name.
    public static func catalog() -> InterfaceCatalog {
        var catalog = InterfaceCatalog()
        for target in entryPoints { target.register(in: &catalog) }
        return catalog
    }

    /// The registry for what `config` enables out of what this build ships.
    ///
    /// - Throws: `DriverNotFound` for an unknown enabled hardware type, `InvalidParameterValue`
    ///   for an unknown enabled interface or a hardware type left without a core interface.
    public static func registry(config: DriverConfig) throws(IronicError) -> DriverRegistry {
        try DriverRegistry(available: hardwareTypes, catalog: catalog(), config: config)
    }
}
