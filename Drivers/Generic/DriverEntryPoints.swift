import Core

/// What one driver target adds to the build: the hardware types it defines (Ironic's
/// `ironic.hardware.types` entry points) and the interface implementations it ships
/// (`ironic.hardware.interfaces.*`).
///
/// Each driver target publishes one value as a static member (`.generic`, `.fakeHardware`,
/// later `.ipmi`), and the `HardwareTypes` target lists them. A new hardware type therefore
/// joins the build by adding its target as a dependency of `HardwareTypes` and its value to
/// that list; nothing registers itself at load time, so there is no global to race on.
///
/// ```swift
/// extension DriverEntryPoints {
///     public static let ipmi = DriverEntryPoints(
///         hardwareTypes: [.ipmi], interfaces: [IPMIPower(), IPMIManagement()])
/// }
/// ```
public struct DriverEntryPoints: Sendable {
    /// Hardware types this target defines.
    public var hardwareTypes: [HardwareType]
    /// Interface implementations this target ships, each under its own kind and name.
    public var interfaces: [any HardwareInterface]

    /// Creates the entry points of one driver target.
    public init(hardwareTypes: [HardwareType] = [], interfaces: [any HardwareInterface]) {
        self.hardwareTypes = hardwareTypes
        self.interfaces = interfaces
    }

    /// Adds every interface implementation to `catalog`.
    public func register(in catalog: inout InterfaceCatalog) {
        for implementation in interfaces {
            catalog.register(implementation)
        }
    }
}
