/// Ironic's 13 hardware interface kinds. The raw value is the prefix of the node field
/// (`power` → `power_interface`) and of the config option (`enabled_power_interfaces`).
public enum InterfaceKind: String, Codable, Sendable, CaseIterable, Hashable, Comparable, CodingKeyRepresentable {
    case bios, boot, console, deploy, firmware, inspect, management, network, power, raid, rescue, storage, vendor

    /// The node field holding this kind's interface name, e.g. `power_interface`.
    public var nodeField: String { "\(rawValue)_interface" }

    /// The first API microversion at which the node field is visible and settable.
    public var minimumAPIMinor: Int {
        switch self {
        case .network: 20
        case .storage: 33
        case .rescue: 38
        case .bios: 40
        case .firmware: 86
        case .boot, .console, .deploy, .inspect, .management, .power, .raid, .vendor: 31
        }
    }

    /// Whether a hardware type must provide this kind (Ironic's core interfaces).
    public var isCore: Bool {
        switch self {
        case .boot, .deploy, .management, .power: true
        default: false
        }
    }

    public static func < (lhs: InterfaceKind, rhs: InterfaceKind) -> Bool { lhs.rawValue < rhs.rawValue }
}
