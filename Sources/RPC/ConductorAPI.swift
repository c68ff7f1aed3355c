import Core
import Foundation

/// Everything the API asks of a conductor. Requests and replies are plain `Codable` values
/// so an in-process call and a remote one (JSON-RPC) look the same to both sides.
///
/// Each method throws `IronicError` with Ironic's HTTP semantics (`NodeLocked` → 409, ...).
/// Methods that start asynchronous work return once the work is accepted: the node's
/// `target_*` fields are set and the lock is held by the worker.
public protocol ConductorAPI: Sendable {
    /// Creates a node after resolving its interfaces (Ironic's `create_node`).
    func createNode(_ request: CreateNodeRequest) async throws -> Node
    /// Applies changed fields to a node under its lock (Ironic's `update_node`).
    func updateNode(_ request: UpdateNodeRequest) async throws -> Node
    /// Deletes a node (Ironic's `destroy_node`).
    func destroyNode(_ request: NodeRequest) async throws
    /// Starts a power change; returns when accepted (Ironic's `change_node_power_state`).
    func changePowerState(_ request: ChangePowerStateRequest) async throws
    /// Starts a provision action (Ironic's `do_provisioning_action` and friends).
    func doProvisioningAction(_ request: ProvisioningActionRequest) async throws
    /// Enables or disables the serial console.
    func setConsoleMode(_ request: SetConsoleModeRequest) async throws
    /// Where the console is, without side effects on the BMC.
    func consoleInformation(_ request: NodeRequest) async throws -> ConsoleInfo
    /// The console's buffered output, kept by the console proxy (an extension beyond Ironic).
    func consoleLog(_ request: NodeRequest) async throws -> ConsoleLog
    /// Sets the boot device.
    func setBootDevice(_ request: SetBootDeviceRequest) async throws
    /// The current boot device.
    func bootDevice(_ request: NodeRequest) async throws -> BootDeviceState
    /// Boot devices the node's management interface supports.
    func supportedBootDevices(_ request: NodeRequest) async throws -> [BootDevice]
    /// Injects an NMI.
    func injectNMI(_ request: NodeRequest) async throws
    /// Runs every interface's validation.
    func validateDriverInterfaces(_ request: NodeRequest) async throws -> [InterfaceKind: InterfaceValidation]
    /// VIFs attached to a node's ports and portgroups.
    func listVIFs(_ request: NodeRequest) async throws -> [String]
    /// Attaches a VIF.
    func attachVIF(_ request: VIFRequest) async throws
    /// Detaches a VIF.
    func detachVIF(_ request: VIFRequest) async throws
    /// Replaces or adds traits (`replace` = PUT of the whole list).
    func setTraits(_ request: SetTraitsRequest) async throws
    /// Removes one trait, or all when `trait` is nil.
    func removeTraits(_ request: RemoveTraitsRequest) async throws
    /// Sets or clears maintenance mode.
    func setMaintenance(_ request: SetMaintenanceRequest) async throws -> Node
    /// Creates a port (Ironic's `create_port`).
    func createPort(_ request: PortRequest) async throws -> NodePort
    /// Updates a port under its node's lock.
    func updatePort(_ request: PortRequest) async throws -> NodePort
    /// Deletes a port under its node's lock.
    func destroyPort(_ request: PortRequest) async throws
    /// Creates a portgroup.
    func createPortgroup(_ request: PortgroupRequest) async throws -> Portgroup
    /// Updates a portgroup under its node's lock.
    func updatePortgroup(_ request: PortgroupRequest) async throws -> Portgroup
    /// Deletes a portgroup under its node's lock.
    func destroyPortgroup(_ request: PortgroupRequest) async throws
    /// Calls a vendor passthru method on a node.
    func vendorPassthru(_ request: VendorPassthruRequest) async throws -> VendorPassthruReply
    /// The node for a ramdisk agent that looked it up (Ironic's `get_node_with_token`): the
    /// first call after the ramdisk booted generates the agent token and returns it in
    /// `driver_internal_info.agent_secret_token`; later calls return `"******"` there.
    func getNodeWithToken(_ request: NodeRequest) async throws -> Node
    /// A ramdisk agent's heartbeat (Ironic's `heartbeat`): checks the agent token, records
    /// where the agent listens, and moves the node's deploy, clean, inspect or rescue work on.
    func heartbeat(_ request: HeartbeatRequest) async throws
    /// Inventory posted by an inspecting ramdisk (Ironic's `continue_inspection`); returns
    /// the node as updated.
    func continueInspection(_ request: ContinueInspectionRequest) async throws -> Node
}

/// A console's buffered output: the bytes the serial port printed, oldest first (base64 on
/// the JSON-RPC wire).
public struct ConsoleLog: Sendable, Hashable, Codable {
    public var bytes: Data

    /// Wraps the bytes.
    public init(bytes: Data) {
        self.bytes = bytes
    }
}

/// Who asks, carried with every request for logs and history entries.
public struct RequestContext: Sendable, Hashable, Codable {
    /// `X-OpenStack-Request-ID` of the API request, `req-<uuid>`.
    public var requestID: String
    public var userID: String?
    public var projectID: String?

    /// Creates a context.
    public init(requestID: String, userID: String? = nil, projectID: String? = nil) {
        self.requestID = requestID
        self.userID = userID
        self.projectID = projectID
    }
}

/// A request about one node.
public struct NodeRequest: Sendable, Hashable, Codable {
    public var context: RequestContext
    public var nodeUUID: String

    /// Creates the request.
    public init(context: RequestContext, nodeUUID: String) {
        self.context = context
        self.nodeUUID = nodeUUID
    }
}

/// `createNode`.
public struct CreateNodeRequest: Sendable, Hashable, Codable {
    public var context: RequestContext
    public var node: Node

    /// Creates the request.
    public init(context: RequestContext, node: Node) {
        self.context = context
        self.node = node
    }
}

/// `updateNode`: a JSON patch the conductor applies to the stored node under its lock, so
/// concurrent updates of the same node are serialised and none is lost.
public struct UpdateNodeRequest: Sendable, Hashable, Codable {
    public var context: RequestContext
    public var nodeUUID: String
    public var patch: JSONPatch
    /// Kinds whose interface goes back to the default (driver change with `reset_interfaces`).
    public var resetInterfaces: Set<InterfaceKind>

    /// Creates the request.
    public init(context: RequestContext, nodeUUID: String, patch: JSONPatch, resetInterfaces: Set<InterfaceKind> = []) {
        self.context = context
        self.nodeUUID = nodeUUID
        self.patch = patch
        self.resetInterfaces = resetInterfaces
    }
}

/// `changePowerState`.
public struct ChangePowerStateRequest: Sendable, Hashable, Codable {
    public var context: RequestContext
    public var nodeUUID: String
    public var target: PowerState
    /// Seconds to wait for the change (`timeout` in the API body).
    public var timeoutSeconds: Int?

    /// Creates the request.
    public init(context: RequestContext, nodeUUID: String, target: PowerState, timeoutSeconds: Int? = nil) {
        self.context = context
        self.nodeUUID = nodeUUID
        self.target = target
        self.timeoutSeconds = timeoutSeconds
    }
}

/// `doProvisioningAction`: a verb and its arguments from `PUT /states/provision`.
public struct ProvisioningActionRequest: Sendable, Hashable, Codable {
    public var context: RequestContext
    public var nodeUUID: String
    public var verb: ProvisionVerb
    public var configdrive: JSONValue?
    public var cleanSteps: [JSONValue]?
    public var deploySteps: [JSONValue]?
    public var serviceSteps: [JSONValue]?
    public var rescuePassword: String?
    public var disableRamdisk: Bool?

    /// Creates the request.
    public init(context: RequestContext, nodeUUID: String, verb: ProvisionVerb, configdrive: JSONValue? = nil,
                cleanSteps: [JSONValue]? = nil, deploySteps: [JSONValue]? = nil, serviceSteps: [JSONValue]? = nil,
                rescuePassword: String? = nil, disableRamdisk: Bool? = nil) {
        self.context = context
        self.nodeUUID = nodeUUID
        self.verb = verb
        self.configdrive = configdrive
        self.cleanSteps = cleanSteps
        self.deploySteps = deploySteps
        self.serviceSteps = serviceSteps
        self.rescuePassword = rescuePassword
        self.disableRamdisk = disableRamdisk
    }
}

/// `setConsoleMode`.
public struct SetConsoleModeRequest: Sendable, Hashable, Codable {
    public var context: RequestContext
    public var nodeUUID: String
    public var enabled: Bool

    /// Creates the request.
    public init(context: RequestContext, nodeUUID: String, enabled: Bool) {
        self.context = context
        self.nodeUUID = nodeUUID
        self.enabled = enabled
    }
}

/// `setBootDevice`.
public struct SetBootDeviceRequest: Sendable, Hashable, Codable {
    public var context: RequestContext
    public var nodeUUID: String
    public var device: BootDevice
    public var persistent: Bool

    /// Creates the request.
    public init(context: RequestContext, nodeUUID: String, device: BootDevice, persistent: Bool) {
        self.context = context
        self.nodeUUID = nodeUUID
        self.device = device
        self.persistent = persistent
    }
}

/// `attachVIF` / `detachVIF`.
public struct VIFRequest: Sendable, Hashable, Codable {
    public var context: RequestContext
    public var nodeUUID: String
    public var vifID: String
    /// Optional `port_uuid` / `portgroup_uuid` to attach to.
    public var portUUID: String?
    public var portgroupUUID: String?

    /// Creates the request.
    public init(context: RequestContext, nodeUUID: String, vifID: String, portUUID: String? = nil, portgroupUUID: String? = nil) {
        self.context = context
        self.nodeUUID = nodeUUID
        self.vifID = vifID
        self.portUUID = portUUID
        self.portgroupUUID = portgroupUUID
    }
}

/// `setTraits`.
public struct SetTraitsRequest: Sendable, Hashable, Codable {
    public var context: RequestContext
    public var nodeUUID: String
    public var traits: [String]
    /// `true`: the list replaces all traits; `false`: it is added.
    public var replace: Bool

    /// Creates the request.
    public init(context: RequestContext, nodeUUID: String, traits: [String], replace: Bool) {
        self.context = context
        self.nodeUUID = nodeUUID
        self.traits = traits
        self.replace = replace
    }
}

/// `removeTraits`.
public struct RemoveTraitsRequest: Sendable, Hashable, Codable {
    public var context: RequestContext
    public var nodeUUID: String
    /// The trait to remove, or nil for all.
    public var trait: String?

    /// Creates the request.
    public init(context: RequestContext, nodeUUID: String, trait: String?) {
        self.context = context
        self.nodeUUID = nodeUUID
        self.trait = trait
    }
}

/// `setMaintenance`.
public struct SetMaintenanceRequest: Sendable, Hashable, Codable {
    public var context: RequestContext
    public var nodeUUID: String
    public var maintenance: Bool
    public var reason: String?

    /// Creates the request.
    public init(context: RequestContext, nodeUUID: String, maintenance: Bool, reason: String?) {
        self.context = context
        self.nodeUUID = nodeUUID
        self.maintenance = maintenance
        self.reason = reason
    }
}

/// Port create/update/destroy.
public struct PortRequest: Sendable, Hashable, Codable {
    public var context: RequestContext
    public var port: NodePort

    /// Creates the request.
    public init(context: RequestContext, port: NodePort) {
        self.context = context
        self.port = port
    }
}

/// Portgroup create/update/destroy.
public struct PortgroupRequest: Sendable, Hashable, Codable {
    public var context: RequestContext
    public var portgroup: Portgroup

    /// Creates the request.
    public init(context: RequestContext, portgroup: Portgroup) {
        self.context = context
        self.portgroup = portgroup
    }
}

/// `vendorPassthru`.
public struct VendorPassthruRequest: Sendable, Hashable, Codable {
    public var context: RequestContext
    public var nodeUUID: String
    public var method: String
    public var httpMethod: String
    public var body: JSONValue?

    /// Creates the request.
    public init(context: RequestContext, nodeUUID: String, method: String, httpMethod: String, body: JSONValue?) {
        self.context = context
        self.nodeUUID = nodeUUID
        self.method = method
        self.httpMethod = httpMethod
        self.body = body
    }
}

/// What a vendor method returned, and whether it ran asynchronously (202) or not (200).
public struct VendorPassthruReply: Sendable, Hashable, Codable {
    public var async: Bool
    public var body: JSONValue?

    /// Creates the reply.
    public init(async: Bool, body: JSONValue?) {
        self.async = async
        self.body = body
    }
}

/// `heartbeat`: what `POST /v1/heartbeat/{node}` carried.
public struct HeartbeatRequest: Sendable, Hashable, Codable {
    public var context: RequestContext
    public var nodeUUID: String
    /// Where the agent's REST API listens (`http://HOST:9999`).
    public var callbackURL: String
    /// The token the agent got from its lookup (API 1.62).
    public var agentToken: String?
    /// The agent's version string (API 1.36).
    public var agentVersion: String?
    /// The CA certificate (PEM) the agent's TLS endpoint uses (API 1.68).
    public var agentVerifyCA: String?
    /// `start`, `end` or `error` (API 1.72), and a message with it.
    public var agentStatus: String?
    public var agentStatusMessage: String?

    /// Creates the request.
    public init(
        context: RequestContext, nodeUUID: String, callbackURL: String, agentToken: String? = nil,
        agentVersion: String? = nil, agentVerifyCA: String? = nil, agentStatus: String? = nil,
        agentStatusMessage: String? = nil
    ) {
        self.context = context
        self.nodeUUID = nodeUUID
        self.callbackURL = callbackURL
        self.agentToken = agentToken
        self.agentVersion = agentVersion
        self.agentVerifyCA = agentVerifyCA
        self.agentStatus = agentStatus
        self.agentStatusMessage = agentStatusMessage
    }
}

/// `continueInspection`: the inventory and plugin data an inspecting ramdisk posted.
public struct ContinueInspectionRequest: Sendable, Hashable, Codable {
    public var context: RequestContext
    public var nodeUUID: String
    /// IPA's `inventory` object (cpu, memory, disks, interfaces, system_vendor, bmc_address, ...).
    public var inventory: JSONValue
    /// Everything else the ramdisk posted (`root_disk`, `boot_interface`, `configuration`, ...).
    public var pluginData: [String: JSONValue]
    /// The agent token, when the ramdisk sent one.
    public var agentToken: String?

    /// Creates the request.
    public init(context: RequestContext, nodeUUID: String, inventory: JSONValue, pluginData: [String: JSONValue],
                agentToken: String? = nil) {
        self.context = context
        self.nodeUUID = nodeUUID
        self.inventory = inventory
        self.pluginData = pluginData
        self.agentToken = agentToken
    }
}
