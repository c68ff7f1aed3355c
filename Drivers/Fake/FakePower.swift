import Core

/// `fake` power: no BMC; the power state lives in the node itself.
///
/// Every change is written through the task, so the state survives the task and a later
/// `powerState(of:)` (or the conductor's power sync) reads back what was last set.
public struct FakePower: PowerInterface {
    /// `fake`.
    public var name: String { "fake" }
    /// `[fake] power_delay`.
    let delay: FakeDelay

    /// Creates the implementation; every call first waits `delay`.
    public init(delay: FakeDelay = .none) {
        self.delay = delay
    }

    /// The node's recorded power state; a node never powered is off.
    public func powerState(of task: NodeTask) async throws -> PowerState {
        try await delay.wait()
        return task.node.powerState ?? .off
    }

    /// Records the state `target` settles in (a soft reboot ends on, a soft power off ends off).
    ///
    /// - Throws: `InvalidParameterValue` for `rebooting` and `error`, as Ironic's fake does:
    ///   a hard reboot goes through `reboot(_:soft:timeout:)`.
    public func setPowerState(_ target: PowerState, on task: NodeTask, timeout: Duration?) async throws {
        try await delay.wait()
        switch target {
        case .on, .off, .softRebooting, .softPowerOff:
            task.updateNode { $0.powerState = target.settledState }
        case .rebooting, .error:
            throw IronicError.invalidParameterValue("set_power_state called with an invalid power state: \(target.rawValue).")
        }
    }

    /// Leaves the node powered on, whatever it was before.
    public func reboot(_ task: NodeTask, soft: Bool, timeout: Duration?) async throws {
        try await delay.wait()
        task.updateNode { $0.powerState = .on }
    }

    /// On, off, rebooting, soft rebooting and soft power off.
    public func supportedPowerStates(_ task: NodeTask) -> [PowerState] {
        [.on, .off, .rebooting, .softRebooting, .softPowerOff]
    }
}
