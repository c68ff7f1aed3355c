import Core

/// One `ConductorAPI` call as a JSON-RPC method: its wire name (Ironic's conductor manager
/// method name), its parameter and result types, and how to invoke it on a conductor. The
/// client and the dispatcher both use these values, so the two sides cannot drift apart.
public struct ConductorMethod<Params: Codable & Sendable, Result: Codable & Sendable>: Sendable {
    /// The wire name, e.g. `change_node_power_state`.
    public let name: String
    /// Calls the method on a conductor.
    public let invoke: @Sendable (any ConductorAPI, Params) async throws -> Result

    init(_ name: String, _ invoke: @escaping @Sendable (any ConductorAPI, Params) async throws -> Result) {
        self.name = name
        self.invoke = invoke
    }
}

extension ConductorMethod where Params == CreateNodeRequest, Result == Node {
    static var createNode: Self { .init("create_node") { try await $0.createNode($1) } }
}
extension ConductorMethod where Params == UpdateNodeRequest, Result == Node {
    static var updateNode: Self { .init("update_node") { try await $0.updateNode($1) } }
}
extension ConductorMethod where Params == NodeRequest, Result == RPCVoid {
    static var destroyNode: Self { .init("destroy_node") { try await $0.destroyNode($1); return RPCVoid() } }
    static var injectNMI: Self { .init("inject_nmi") { try await $0.injectNMI($1); return RPCVoid() } }
}
extension ConductorMethod where Params == ChangePowerStateRequest, Result == RPCVoid {
    static var changePowerState: Self { .init("change_node_power_state") { try await $0.changePowerState($1); return RPCVoid() } }
}
extension ConductorMethod where Params == ProvisioningActionRequest, Result == RPCVoid {
    static var doProvisioningAction: Self { .init("do_provisioning_action") { try await $0.doProvisioningAction($1); return RPCVoid() } }
}
extension ConductorMethod where Params == SetConsoleModeRequest, Result == RPCVoid {
    static var setConsoleMode: Self { .init("set_console_mode") { try await $0.setConsoleMode($1); return RPCVoid() } }
}
extension ConductorMethod where Params == NodeRequest, Result == ConsoleInfo {
    static var consoleInformation: Self { .init("get_console_information") { try await $0.consoleInformation($1) } }
}
extension ConductorMethod where Params == NodeRequest, Result == ConsoleLog {
    static var consoleLog: Self { .init("get_console_log") { try await $0.consoleLog($1) } }
}
extension ConductorMethod where Params == SetBootDeviceRequest, Result == RPCVoid {
    static var setBootDevice: Self { .init("set_boot_device") { try await $0.setBootDevice($1); return RPCVoid() } }
}
extension ConductorMethod where Params == NodeRequest, Result == BootDeviceState {
    static var bootDevice: Self { .init("get_boot_device") { try await $0.bootDevice($1) } }
}
extension ConductorMethod where Params == NodeRequest, Result == [BootDevice] {
    static var supportedBootDevices: Self { .init("get_supported_boot_devices") { try await $0.supportedBootDevices($1) } }
}
extension ConductorMethod where Params == NodeRequest, Result == [InterfaceKind: InterfaceValidation] {
    static var validateDriverInterfaces: Self { .init("validate_driver_interfaces") { try await $0.validateDriverInterfaces($1) } }
}
extension ConductorMethod where Params == NodeRequest, Result == [String] {
    static var listVIFs: Self { .init("vif_list") { try await $0.listVIFs($1) } }
}
extension ConductorMethod where Params == VIFRequest, Result == RPCVoid {
    static var attachVIF: Self { .init("vif_attach") { try await $0.attachVIF($1); return RPCVoid() } }
    static var detachVIF: Self { .init("vif_detach") { try await $0.detachVIF($1); return RPCVoid() } }
}
extension ConductorMethod where Params == SetTraitsRequest, Result == RPCVoid {
    static var setTraits: Self { .init("add_node_traits") { try await $0.setTraits($1); return RPCVoid() } }
}
extension ConductorMethod where Params == RemoveTraitsRequest, Result == RPCVoid {
    static var removeTraits: Self { .init("remove_node_traits") { try await $0.removeTraits($1); return RPCVoid() } }
}
extension ConductorMethod where Params == SetMaintenanceRequest, Result == Node {
    static var setMaintenance: Self { .init("set_maintenance") { try await $0.setMaintenance($1) } }
}
extension ConductorMethod where Params == PortRequest, Result == NodePort {
    static var createPort: Self { .init("create_port") { try await $0.createPort($1) } }
    static var updatePort: Self { .init("update_port") { try await $0.updatePort($1) } }
}
extension ConductorMethod where Params == PortRequest, Result == RPCVoid {
    static var destroyPort: Self { .init("destroy_port") { try await $0.destroyPort($1); return RPCVoid() } }
}
extension ConductorMethod where Params == PortgroupRequest, Result == Portgroup {
    static var createPortgroup: Self { .init("create_portgroup") { try await $0.createPortgroup($1) } }
    static var updatePortgroup: Self { .init("update_portgroup") { try await $0.updatePortgroup($1) } }
}
extension ConductorMethod where Params == PortgroupRequest, Result == RPCVoid {
    static var destroyPortgroup: Self { .init("destroy_portgroup") { try await $0.destroyPortgroup($1); return RPCVoid() } }
}
extension ConductorMethod where Params == VendorPassthruRequest, Result == VendorPassthruReply {
    static var vendorPassthru: Self { .init("vendor_passthru") { try await $0.vendorPassthru($1) } }
}
extension ConductorMethod where Params == NodeRequest, Result == Node {
    static var getNodeWithToken: Self { .init("get_node_with_token") { try await $0.getNodeWithToken($1) } }
}
extension ConductorMethod where Params == HeartbeatRequest, Result == RPCVoid {
    static var heartbeat: Self { .init("heartbeat") { try await $0.heartbeat($1); return RPCVoid() } }
}
extension ConductorMethod where Params == ContinueInspectionRequest, Result == Node {
    static var continueInspection: Self { .init("continue_inspection") { try await $0.continueInspection($1) } }
}
