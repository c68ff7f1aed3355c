import Core

// Ironic's fake RAID, BIOS and firmware interfaces offer steps that succeed at once; the same
// names here let manual cleaning be exercised end to end without hardware.

extension FakeRAID: StepProvider {
    /// `create_configuration`, `delete_configuration`.
    public var stepNames: [String] { ["create_configuration", "delete_configuration"] }

    /// Records the RAID configuration change in the node.
    public func runStep(_ name: String, args: [String: JSONValue], task: NodeTask) async throws {
        task.updateNode { node in
            node.raidConfig = name == "create_configuration" ? node.targetRAIDConfig : [:]
        }
    }
}

extension FakeBIOS: StepProvider {
    /// `apply_configuration`, `factory_reset`.
    public var stepNames: [String] { ["apply_configuration", "factory_reset"] }

    /// Succeeds at once.
    public func runStep(_ name: String, args: [String: JSONValue], task: NodeTask) async throws {}
}

extension FakeFirmware: StepProvider {
    /// `update`.
    public var stepNames: [String] { ["update"] }

    /// Succeeds at once.
    public func runStep(_ name: String, args: [String: JSONValue], task: NodeTask) async throws {}
}
