import Core
import RPC

/// The conductor client of an API process with no RPC transport: every call answers 503
/// with the reason, so clients see a clear error instead of a hang.
struct UnreachableConductor: ConductorAPI {
    private func unavailable() -> IronicError {
        .noConductor("No conductor is reachable from this API process: run `ironic standalone` (API and conductor in one process).")
    }

    func createNode(_ request: CreateNodeRequest) async throws -> Node { throw unavailable() }
    func updateNode(_ request: UpdateNodeRequest) async throws -> Node { throw unavailable() }
    func destroyNode(_ request: NodeRequest) async throws { throw unavailable() }
    func changePowerState(_ request: ChangePowerStateRequest) async throws { throw unavailable() }
    func doProvisioningAction(_ request: ProvisioningActionRequest) async throws { throw unavailable() }
    func setConsoleMode(_ request: SetConsoleModeRequest) async throws { throw unavailable() }
    func consoleInformation(_ request: NodeRequest) async throws -> ConsoleInfo { throw unavailable() }
    func consoleLog(_ request: NodeRequest) async throws -> ConsoleLog { throw unavailable() }
    func setBootDevice(_ request: SetBootDeviceRequest) async throws { throw unavailable() }
    func bootDevice(_ request: NodeRequest) async throws -> BootDeviceState { throw unavailable() }
    func supportedBootDevices(_ request: NodeRequest) async throws -> [BootDevice] { throw unavailable() }
    func injectNMI(_ request: NodeRequest) async throws { throw unavailable() }
    func validateDriverInterfaces(_ request: NodeRequest) async throws -> [InterfaceKind: InterfaceValidation] { throw unavailable() }
    func listVIFs(_ request: NodeRequest) async throws -> [String] { throw unavailable() }
    func attachVIF(_ request: VIFRequest) async throws { throw unavailable() }
    func detachVIF(_ request: VIFRequest) async throws { throw unavailable() }
    func setTraits(_ request: SetTraitsRequest) async throws { throw unavailable() }
    func removeTraits(_ request: RemoveTraitsRequest) async throws { throw unavailable() }
    func setMaintenance(_ request: SetMaintenanceRequest) async throws -> Node { throw unavailable() }
    func createPort(_ request: PortRequest) async throws -> NodePort { throw unavailable() }
    func updatePort(_ request: PortRequest) async throws -> NodePort { throw unavailable() }
    func destroyPort(_ request: PortRequest) async throws { throw unavailable() }
    func createPortgroup(_ request: PortgroupRequest) async throws -> Portgroup { throw unavailable() }
    func updatePortgroup(_ request: PortgroupRequest) async throws -> Portgroup { throw unavailable() }
    func destroyPortgroup(_ request: PortgroupRequest) async throws { throw unavailable() }
    func vendorPassthru(_ request: VendorPassthruRequest) async throws -> VendorPassthruReply { throw unavailable() }
    func getNodeWithToken(_ request: NodeRequest) async throws -> Node { throw unavailable() }
    func heartbeat(_ request: HeartbeatRequest) async throws { throw unavailable() }
    func continueInspection(_ request: ContinueInspectionRequest) async throws -> Node { throw unavailable() }
}
