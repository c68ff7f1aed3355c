import Core
import Foundation

/// Persistent state of the service. Every backend (`SQLiteStore`, `PostgreSQLStore`) implements
/// it with the same semantics; nothing backend-specific leaks through it.
///
/// Errors are `IronicError`s with Ironic's codes (`NodeNotFound`, `NodeLocked`,
/// `DuplicateName`, ...), so callers pass them straight to clients.
public protocol Store: Sendable {
    // MARK: Schema

    /// Applies every pending numbered migration; returns the schema version reached.
    func upgrade() async throws -> Int
    /// The schema version of the database (0 when empty).
    func schemaVersion() async throws -> Int

    // MARK: Nodes

    /// Inserts a node. Throws `NodeAlreadyExists`, `DuplicateName` or `InstanceAssociated`.
    func createNode(_ node: Node) async throws -> Node
    /// The node with this UUID. Throws `NodeNotFound`.
    func node(uuid: String) async throws -> Node
    /// The node with this name. Throws `NodeNotFound`.
    func node(name: String) async throws -> Node
    /// Nodes matching `query`, in its order, after its marker, at most `query.page.limit`.
    func nodes(_ query: NodeQuery) async throws -> [Node]
    /// Writes every field of `node` (matched by UUID) except `reservation`, and stamps
    /// `updatedAt`. Throws `NodeNotFound`, `DuplicateName` or `InstanceAssociated`.
    func saveNode(_ node: Node) async throws -> Node
    /// Deletes a node with its ports, portgroups, traits and history. Throws `NodeNotFound`.
    func deleteNode(uuid: String) async throws
    /// Takes the node's exclusive lock for `conductor` with one conditional update: exactly
    /// one caller wins. Throws `NodeLocked` naming the holder, or `NodeNotFound`.
    func reserveNode(uuid: String, conductor: String) async throws -> Node
    /// Releases the lock if `conductor` holds it; a no-op otherwise.
    func releaseNode(uuid: String, conductor: String) async throws
    /// Moves the node's lock from `holder` (a conductor that died) to `conductor` with one
    /// conditional update, so exactly one of several conductors taking over wins. Throws
    /// `NodeLocked` when `holder` no longer holds it, or `NodeNotFound`.
    func takeOverReservation(uuid: String, from holder: String, to conductor: String) async throws -> Node
    /// Releases every lock `conductor` holds; returns the UUIDs of the nodes released.
    func releaseReservations(heldBy conductor: String) async throws -> [String]

    // MARK: Ports and portgroups

    /// Inserts a port. Throws `MACAlreadyExists` or `PortAlreadyExists`.
    func createPort(_ port: NodePort) async throws -> NodePort
    /// The port with this UUID. Throws `PortNotFound`.
    func port(uuid: String) async throws -> NodePort
    /// Ports matching `query`.
    func ports(_ query: PortQuery) async throws -> [NodePort]
    /// Writes a port. Throws `PortNotFound` or `MACAlreadyExists`.
    func savePort(_ port: NodePort) async throws -> NodePort
    /// Deletes a port. Throws `PortNotFound`.
    func deletePort(uuid: String) async throws

    /// Inserts a portgroup. Throws `PortgroupAlreadyExists`, `MACAlreadyExists` or a name conflict.
    func createPortgroup(_ portgroup: Portgroup) async throws -> Portgroup
    /// The portgroup with this UUID. Throws `PortgroupNotFound`.
    func portgroup(uuid: String) async throws -> Portgroup
    /// The portgroup with this name. Throws `PortgroupNotFound`.
    func portgroup(name: String) async throws -> Portgroup
    /// Portgroups matching `query`.
    func portgroups(_ query: PortgroupQuery) async throws -> [Portgroup]
    /// Writes a portgroup. Throws `PortgroupNotFound`.
    func savePortgroup(_ portgroup: Portgroup) async throws -> Portgroup
    /// Deletes a portgroup. Throws `PortgroupNotFound`, or `PortgroupNotEmpty` while ports use it.
    func deletePortgroup(uuid: String) async throws

    // MARK: Chassis

    /// Inserts a chassis. Throws `ChassisAlreadyExists`.
    func createChassis(_ chassis: Chassis) async throws -> Chassis
    /// The chassis with this UUID. Throws `ChassisNotFound`.
    func chassis(uuid: String) async throws -> Chassis
    /// Chassis in `page` order.
    func chassisList(_ page: PageQuery) async throws -> [Chassis]
    /// Writes a chassis. Throws `ChassisNotFound`.
    func saveChassis(_ chassis: Chassis) async throws -> Chassis
    /// Deletes a chassis. Throws `ChassisNotFound`, or `ChassisNotEmpty` while nodes use it.
    func deleteChassis(uuid: String) async throws

    // MARK: Conductors

    /// Inserts or replaces a conductor's row (online, heartbeat now) with what it serves.
    func registerConductor(_ conductor: ConductorRecord) async throws
    /// Stamps the conductor's heartbeat. Throws `ConductorNotFound` when its row is gone.
    func heartbeatConductor(hostname: String) async throws
    /// Marks the conductor offline (graceful stop).
    func unregisterConductor(hostname: String) async throws
    /// Every registered conductor, online or not, sorted by hostname.
    func conductors() async throws -> [ConductorRecord]
    /// One conductor. Throws `ConductorNotFound`.
    func conductor(hostname: String) async throws -> ConductorRecord

    // MARK: Node history

    /// Appends an entry to a node's history.
    func recordHistory(_ event: NodeHistoryEvent) async throws
    /// A node's history, oldest first, after `page.marker` (an entry UUID), at most `page.limit`.
    func history(nodeUUID: String, page: PageQuery) async throws -> [NodeHistoryEvent]
    /// One history entry of a node. Throws `NodeHistoryNotFound`.
    func historyEvent(nodeUUID: String, uuid: String) async throws -> NodeHistoryEvent

    // MARK: Node inventory

    /// Stores what an inspecting ramdisk reported about a node, replacing any earlier report.
    /// Throws `NodeNotFound` for an unknown node.
    func saveInventory(nodeUUID: String, inventory: JSONValue, pluginData: JSONValue) async throws
    /// The last inspection report of a node. Throws `NodeInventoryNotFound`.
    func inventory(nodeUUID: String) async throws -> NodeInventory
}

/// Sort order of a list.
public enum SortDirection: String, Sendable, Hashable, Codable {
    case ascending = "asc"
    case descending = "desc"
}

/// Paging of a list: at most `limit` items after the item whose UUID is `marker`, ordered by
/// `sortKey` (an API field name, already validated) then by creation.
public struct PageQuery: Sendable, Hashable {
    public var limit: Int?
    public var marker: String?
    public var sortKey: String
    public var sortDirection: SortDirection

    /// Creates a page query; the default is every item, oldest first.
    public init(limit: Int? = nil, marker: String? = nil, sortKey: String = "id", sortDirection: SortDirection = .ascending) {
        self.limit = limit
        self.marker = marker
        self.sortKey = sortKey
        self.sortDirection = sortDirection
    }
}

/// Node list filters (`GET /v1/nodes?...`); `nil` means "any".
public struct NodeQuery: Sendable, Hashable {
    public var maintenance: Bool?
    /// `true`: nodes with an instance; `false`: nodes without.
    public var associated: Bool?
    public var provisionState: ProvisionState?
    public var driver: String?
    public var resourceClass: String?
    public var conductorGroup: String?
    public var fault: String?
    public var instanceUUID: String?
    public var owner: String?
    public var lessee: String?
    public var chassisUUID: String?
    public var retired: Bool?
    /// Substring of `description`.
    public var descriptionContains: String?
    /// Only nodes reserved by this conductor.
    public var reservation: String?
    /// `true`: nodes some conductor holds locked; `false`: unlocked nodes.
    public var reserved: Bool?
    public var page: PageQuery

    /// Field names nodes may be sorted by (`sort_key`).
    public static let sortKeys: Set<String> = [
        "id", "uuid", "name", "created_at", "updated_at", "driver", "provision_state", "power_state",
        "target_provision_state", "target_power_state", "maintenance", "instance_uuid", "chassis_uuid",
        "resource_class", "conductor_group", "owner", "lessee", "provision_updated_at", "fault", "retired",
        "protected", "console_enabled", "inspection_started_at", "inspection_finished_at", "description",
        "reservation", "last_error", "maintenance_reason", "conductor_affinity", "automated_clean",
    ]

    /// Every node, oldest first.
    public init(page: PageQuery = PageQuery()) {
        self.page = page
    }
}

/// NodePort list filters.
public struct PortQuery: Sendable, Hashable {
    public var nodeUUID: String?
    public var portgroupUUID: String?
    /// Exact MAC address (lower case).
    public var address: String?
    public var page: PageQuery

    /// Field names ports may be sorted by.
    public static let sortKeys: Set<String> = [
        "id", "uuid", "address", "created_at", "updated_at", "node_uuid", "portgroup_uuid", "pxe_enabled",
        "physical_network", "is_smartnic",
    ]

    /// Every port, oldest first.
    public init(nodeUUID: String? = nil, portgroupUUID: String? = nil, address: String? = nil, page: PageQuery = PageQuery()) {
        self.nodeUUID = nodeUUID
        self.portgroupUUID = portgroupUUID
        self.address = address
        self.page = page
    }
}

/// Portgroup list filters.
public struct PortgroupQuery: Sendable, Hashable {
    public var nodeUUID: String?
    public var address: String?
    public var page: PageQuery

    /// Field names portgroups may be sorted by.
    public static let sortKeys: Set<String> = [
        "id", "uuid", "name", "address", "created_at", "updated_at", "node_uuid", "mode",
        "standalone_ports_supported",
    ]

    /// Every portgroup, oldest first.
    public init(nodeUUID: String? = nil, address: String? = nil, page: PageQuery = PageQuery()) {
        self.nodeUUID = nodeUUID
        self.address = address
        self.page = page
    }
}

/// Field names chassis may be sorted by.
public enum ChassisSortKeys {
    public static let all: Set<String> = ["id", "uuid", "description", "created_at", "updated_at"]
}
