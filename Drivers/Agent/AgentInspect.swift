import Core

/// `agent` inspect: boots the ramdisk, which posts its inventory to `/v1/continue_inspection`;
/// Ironic's built-in inspection.
public struct AgentInspect: RamdiskInspectInterface {
    public let name = "agent"
    let settings: DeployConfig

    /// Creates the interface.
    public init(settings: DeployConfig) {
        self.settings = settings
    }

    /// The conductor boots the ramdisk (see `RamdiskInspectInterface`); inspection then
    /// waits for the inventory.
    public func inspectHardware(_ task: NodeTask) async throws -> DriverStepResult { .wait }
}
