import Foundation

/// A NIC of a node (Ironic's port; named so to stay clear of Foundation's `Port`).
public struct NodePort: Sendable, Hashable, Codable {
    public var uuid: String
    /// MAC address, lower case.
    public var address: String
    public var nodeUUID: String
    public var portgroupUUID: String?
    public var localLinkConnection: [String: JSONValue] = [:]
    public var pxeEnabled: Bool = true
    public var physicalNetwork: String?
    public var internalInfo: [String: JSONValue] = [:]
    public var extra: [String: JSONValue] = [:]
    public var isSmartNIC: Bool = false
    public var createdAt: Date
    public var updatedAt: Date?

    /// A new port for `nodeUUID`.
    public init(uuid: String = UUID().uuidString.lowercased(), address: String, nodeUUID: String, createdAt: Date = Date()) {
        self.uuid = uuid
        self.address = address
        self.nodeUUID = nodeUUID
        self.createdAt = createdAt
    }

    /// The VIF attached to this port, if any (Ironic keeps it in `internal_info`).
    public var attachedVIF: String? { internalInfo["tenant_vif_port_id"]?.stringValue }
}

/// A group of ports bonded together (Ironic's portgroup).
public struct Portgroup: Sendable, Hashable, Codable {
    public var uuid: String
    public var name: String?
    public var address: String?
    public var nodeUUID: String
    public var standalonePortsSupported: Bool = true
    public var mode: String?
    public var properties: [String: JSONValue] = [:]
    public var internalInfo: [String: JSONValue] = [:]
    public var extra: [String: JSONValue] = [:]
    public var createdAt: Date
    public var updatedAt: Date?

    /// A new portgroup for `nodeUUID`.
    public init(uuid: String = UUID().uuidString.lowercased(), nodeUUID: String, createdAt: Date = Date()) {
        self.uuid = uuid
        self.nodeUUID = nodeUUID
        self.createdAt = createdAt
    }

    /// The VIF attached to this portgroup, if any.
    public var attachedVIF: String? { internalInfo["tenant_vif_port_id"]?.stringValue }
}

/// A group of nodes (Ironic's chassis).
public struct Chassis: Sendable, Hashable, Codable {
    public var uuid: String
    public var description: String?
    public var extra: [String: JSONValue] = [:]
    public var createdAt: Date
    public var updatedAt: Date?

    /// A new chassis.
    public init(uuid: String = UUID().uuidString.lowercased(), createdAt: Date = Date()) {
        self.uuid = uuid
        self.createdAt = createdAt
    }
}
