import Foundation

/// One bare-metal node, as stored. Field names follow Ironic's; the API decides which
/// of them a client sees at its microversion.
public struct Node: Sendable, Hashable, Codable {
    public var uuid: String
    public var name: String?
    public var chassisUUID: String?
    public var instanceUUID: String?
    public var driver: String
    public var driverInfo: [String: JSONValue] = [:]
    public var driverInternalInfo: [String: JSONValue] = [:]
    public var instanceInfo: [String: JSONValue] = [:]
    public var properties: [String: JSONValue] = [:]
    public var extra: [String: JSONValue] = [:]
    public var cleanStep: [String: JSONValue] = [:]
    public var deployStep: [String: JSONValue] = [:]
    public var serviceStep: [String: JSONValue] = [:]
    public var raidConfig: [String: JSONValue] = [:]
    public var targetRAIDConfig: [String: JSONValue] = [:]
    public var networkData: [String: JSONValue] = [:]
    /// Hostname of the conductor holding the node's exclusive lock, if any.
    public var reservation: String?
    /// Hostname of the conductor that last acted on the node.
    public var conductorAffinity: String?
    public var conductorGroup: String = ""
    public var powerState: PowerState?
    public var targetPowerState: PowerState?
    public var provisionState: ProvisionState = .enroll
    public var targetProvisionState: ProvisionState?
    public var provisionUpdatedAt: Date?
    public var maintenance: Bool = false
    public var maintenanceReason: String?
    public var fault: String?
    public var consoleEnabled: Bool = false
    public var lastError: String?
    public var resourceClass: String?
    public var inspectionStartedAt: Date?
    public var inspectionFinishedAt: Date?
    public var automatedClean: Bool?
    public var protected: Bool = false
    public var protectedReason: String?
    public var retired: Bool = false
    public var retiredReason: String?
    public var owner: String?
    public var lessee: String?
    public var description: String?
    public var allocationUUID: String?
    public var bootMode: String?
    public var secureBoot: Bool?
    /// The node's interface for each kind (`power_interface`, ...); resolved to the hardware
    /// type's default when the node is created.
    public var interfaces: [InterfaceKind: String] = [:]
    public var traits: [String] = []
    public var createdAt: Date
    public var updatedAt: Date?

    /// A new node in `enroll` with the given driver.
    public init(uuid: String = UUID().uuidString.lowercased(), driver: String, createdAt: Date = Date()) {
        self.uuid = uuid
        self.driver = driver
        self.createdAt = createdAt
    }

    /// `name` if set, otherwise `uuid`: how Ironic names a node in messages.
    public var displayName: String { name ?? uuid }

    /// Whether an action (power or provision) is in flight.
    public var hasActionInFlight: Bool { targetPowerState != nil || targetProvisionState != nil }
}
