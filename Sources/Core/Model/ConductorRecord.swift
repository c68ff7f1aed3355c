import Foundation

/// A conductor as registered in the database: who it is, when it last heartbeated,
/// and which hardware types and interfaces it serves.
public struct ConductorRecord: Sendable, Hashable, Codable {
    public var hostname: String
    public var conductorGroup: String
    /// `false` once the conductor has unregistered (graceful stop).
    public var online: Bool
    public var hardwareTypes: [HardwareTypeRegistration]
    public var createdAt: Date
    /// Last heartbeat.
    public var updatedAt: Date

    /// Creates a record.
    public init(hostname: String, conductorGroup: String = "", online: Bool = true,
                hardwareTypes: [HardwareTypeRegistration] = [], createdAt: Date = Date(), updatedAt: Date = Date()) {
        self.hostname = hostname
        self.conductorGroup = conductorGroup
        self.online = online
        self.hardwareTypes = hardwareTypes
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// Whether the conductor is online and heartbeated within `timeout` of `now`.
    public func isAlive(now: Date = Date(), timeout: Duration) -> Bool {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        return online && now.timeIntervalSince(updatedAt) <= seconds
    }
}

/// What one conductor serves for one hardware type: for each interface kind, the enabled
/// implementations (in the hardware type's order of preference) and the default.
public struct HardwareTypeRegistration: Sendable, Hashable, Codable {
    public var hardwareType: String
    public var interfaces: [InterfaceKind: EnabledInterfaces]

    /// Creates a registration.
    public init(hardwareType: String, interfaces: [InterfaceKind: EnabledInterfaces]) {
        self.hardwareType = hardwareType
        self.interfaces = interfaces
    }
}

/// The enabled implementations of one interface kind for a hardware type, and its default.
public struct EnabledInterfaces: Sendable, Hashable, Codable {
    public var enabled: [String]
    public var defaultName: String?

    /// Creates the list; `defaultName` is normally `enabled.first`.
    public init(enabled: [String], defaultName: String?) {
        self.enabled = enabled
        self.defaultName = defaultName
    }
}
