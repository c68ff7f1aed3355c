import Core
import Store

/// The API's view of the conductors: a `ConductorAPI` that sends each call to the live
/// conductor the hash ring maps the node to — in-process when that is the local conductor,
/// over JSON-RPC otherwise.
public struct ConductorRouter: ConductorAPI {
    private let store: any Store
    private let ring: ConductorRing
    private let transport: JSONRPCTransport?
    private let local: (hostname: String, conductor: any ConductorAPI)?

    /// A router over `ring`. `local` is a conductor in this process (called directly);
    /// `transport` reaches the others (nil: only the local one is reachable).
    public init(store: any Store, ring: ConductorRing, transport: JSONRPCTransport?, local: (hostname: String, conductor: any ConductorAPI)? = nil) {
        self.store = store
        self.ring = ring
        self.transport = transport
        self.local = local
    }

    /// Calls `method` on the owner of `node`. When the owner cannot be reached, the ring is
    /// rebuilt and the call goes once to the new owner, if the node has one by now.
    private func call<P, R>(_ method: ConductorMethod<P, R>, for node: Node, _ params: P, _ context: RequestContext) async throws -> R {
        let owner = try await ring.requireOwner(of: node)
        do {
            return try await call(method, on: owner, params, context)
        } catch let unreachable as ConductorUnreachable {
            guard let next = try await ring.refresh().owner(of: node), next != owner else { throw unreachable.ironicError }
            do { return try await call(method, on: next, params, context) } catch let again as ConductorUnreachable {
                throw again.ironicError
            }
        }
    }

    private func call<P, R>(_ method: ConductorMethod<P, R>, on owner: String, _ params: P, _ context: RequestContext) async throws -> R {
        if let local, local.hostname == owner { return try await method.invoke(local.conductor, params) }
        guard let transport else {
            throw IronicError(status: 503, code: "TemporaryFailure", message: "Conductor \(owner) owns this node, and no RPC transport is configured to reach it.")
        }
        return try await transport.call(method, on: owner, params, requestID: context.requestID)
    }

    private func call<P, R>(_ method: ConductorMethod<P, R>, nodeUUID: String, _ params: P, _ context: RequestContext) async throws -> R {
        try await call(method, for: try await store.node(uuid: nodeUUID), params, context)
    }

    public func createNode(_ request: CreateNodeRequest) async throws -> Node {
        try await call(.createNode, for: request.node, request, request.context)
    }
    public func updateNode(_ request: UpdateNodeRequest) async throws -> Node {
        try await call(.updateNode, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func destroyNode(_ request: NodeRequest) async throws {
        _ = try await call(.destroyNode, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func changePowerState(_ request: ChangePowerStateRequest) async throws {
        _ = try await call(.changePowerState, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func doProvisioningAction(_ request: ProvisioningActionRequest) async throws {
        _ = try await call(.doProvisioningAction, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func setConsoleMode(_ request: SetConsoleModeRequest) async throws {
        _ = try await call(.setConsoleMode, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func consoleInformation(_ request: NodeRequest) async throws -> ConsoleInfo {
        try await call(.consoleInformation, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func consoleLog(_ request: NodeRequest) async throws -> ConsoleLog {
        try await call(.consoleLog, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func setBootDevice(_ request: SetBootDeviceRequest) async throws {
        _ = try await call(.setBootDevice, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func bootDevice(_ request: NodeRequest) async throws -> BootDeviceState {
        try await call(.bootDevice, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func supportedBootDevices(_ request: NodeRequest) async throws -> [BootDevice] {
        try await call(.supportedBootDevices, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func injectNMI(_ request: NodeRequest) async throws {
        _ = try await call(.injectNMI, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func validateDriverInterfaces(_ request: NodeRequest) async throws -> [InterfaceKind: InterfaceValidation] {
        try await call(.validateDriverInterfaces, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func listVIFs(_ request: NodeRequest) async throws -> [String] {
        try await call(.listVIFs, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func attachVIF(_ request: VIFRequest) async throws {
        _ = try await call(.attachVIF, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func detachVIF(_ request: VIFRequest) async throws {
        _ = try await call(.detachVIF, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func setTraits(_ request: SetTraitsRequest) async throws {
        _ = try await call(.setTraits, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func removeTraits(_ request: RemoveTraitsRequest) async throws {
        _ = try await call(.removeTraits, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func setMaintenance(_ request: SetMaintenanceRequest) async throws -> Node {
        try await call(.setMaintenance, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func createPort(_ request: PortRequest) async throws -> NodePort {
        try await call(.createPort, nodeUUID: request.port.nodeUUID, request, request.context)
    }
    public func updatePort(_ request: PortRequest) async throws -> NodePort {
        try await call(.updatePort, nodeUUID: request.port.nodeUUID, request, request.context)
    }
    public func destroyPort(_ request: PortRequest) async throws {
        _ = try await call(.destroyPort, nodeUUID: request.port.nodeUUID, request, request.context)
    }
    public func createPortgroup(_ request: PortgroupRequest) async throws -> Portgroup {
        try await call(.createPortgroup, nodeUUID: request.portgroup.nodeUUID, request, request.context)
    }
    public func updatePortgroup(_ request: PortgroupRequest) async throws -> Portgroup {
        try await call(.updatePortgroup, nodeUUID: request.portgroup.nodeUUID, request, request.context)
    }
    public func destroyPortgroup(_ request: PortgroupRequest) async throws {
        _ = try await call(.destroyPortgroup, nodeUUID: request.portgroup.nodeUUID, request, request.context)
    }
    public func vendorPassthru(_ request: VendorPassthruRequest) async throws -> VendorPassthruReply {
        try await call(.vendorPassthru, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func getNodeWithToken(_ request: NodeRequest) async throws -> Node {
        try await call(.getNodeWithToken, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func heartbeat(_ request: HeartbeatRequest) async throws {
        _ = try await call(.heartbeat, nodeUUID: request.nodeUUID, request, request.context)
    }
    public func continueInspection(_ request: ContinueInspectionRequest) async throws -> Node {
        try await call(.continueInspection, nodeUUID: request.nodeUUID, request, request.context)
    }
}
