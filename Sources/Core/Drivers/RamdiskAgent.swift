import Foundation

/// One deploy or clean step as Ironic lists it: `{"interface": "deploy", "step":
/// "write_image", "priority": 80, "args": {}}`.
public struct ProvisionStep: Sendable, Hashable, Codable {
    /// The interface kind that runs it (`deploy`, `management`, ...); for agent steps the
    /// interface the agent reported (`deploy`, `raid`, ...).
    public var interface: String
    /// The step's name.
    public var step: String
    /// Higher runs first; 0 disables a step in automated runs.
    public var priority: Int
    /// Arguments.
    public var args: [String: JSONValue]
    /// Whether the step runs in the ramdisk agent rather than in the conductor.
    public var inAgent: Bool

    /// Creates a step.
    public init(interface: String, step: String, priority: Int, args: [String: JSONValue] = [:], inAgent: Bool = false) {
        self.interface = interface
        self.step = step
        self.priority = priority
        self.args = args
        self.inAgent = inAgent
    }

    /// `interface.step`, as Ironic names steps in messages.
    public var qualifiedName: String { "\(interface).\(step)" }

    /// The wire form kept in `deploy_step`/`clean_step`.
    public var json: [String: JSONValue] {
        ["interface": .string(interface), "step": .string(step), "priority": .int(priority), "args": .object(args)]
    }

    /// Reads the wire form; nil when `interface` or `step` is missing.
    public init?(json: [String: JSONValue], inAgent: Bool = false) {
        guard let interface = json["interface"]?.stringValue, let step = json["step"]?.stringValue else { return nil }
        self.init(
            interface: interface, step: step, priority: json["priority"]?.intValue ?? 0,
            args: json["args"]?.objectValue ?? [:], inAgent: inAgent || (json["in_agent"]?.boolValue ?? false))
    }

    /// The form stored in `driver_internal_info` (the wire form plus `in_agent`).
    public var storedJSON: JSONValue {
        var object = json
        object["in_agent"] = .bool(inAgent)
        return .object(object)
    }
}

extension ProvisionStep {
    /// Ironic's deploy steps of a ramdisk-driven deploy interface (`direct`, `ansible`), with
    /// their default priorities: boot the ramdisk, write the image, set the boot device,
    /// stop the ramdisk, switch networks, boot the instance.
    public static let agentDeploySteps: [ProvisionStep] = [
        ProvisionStep(interface: "deploy", step: "deploy", priority: 100),
        ProvisionStep(interface: "deploy", step: "write_image", priority: 80),
        ProvisionStep(interface: "deploy", step: "prepare_instance_boot", priority: 60),
        ProvisionStep(interface: "deploy", step: "tear_down_agent", priority: 40),
        ProvisionStep(interface: "deploy", step: "switch_to_tenant_network", priority: 30),
        ProvisionStep(interface: "deploy", step: "boot_instance", priority: 20),
    ]
}

extension DeployConfig {
    /// The priorities `[deploy] erase_devices_priority` and `erase_devices_metadata_priority`
    /// give the ramdisk's erase clean steps, by step name.
    public var eraseStepPriorities: [String: Int] {
        ["erase_devices": eraseDevicesPriority, "erase_devices_metadata": eraseDevicesMetadataPriority]
    }
}

/// The state of one command the ramdisk agent ran, as its `GET /v1/commands/` reports it.
public struct AgentCommandStatus: Sendable, Hashable {
    /// IPA's command statuses.
    public enum Status: String, Sendable, Hashable {
        case running = "RUNNING", succeeded = "SUCCEEDED", failed = "FAILED", verifying = "VERIFYING"
    }

    /// The command's name without its extension (`prepare_image`, `execute_clean_step`).
    public var name: String
    public var status: Status
    /// The agent's error, as text, when it failed.
    public var error: String?
    /// `command_result`.
    public var result: JSONValue?

    /// Creates a status.
    public init(name: String, status: Status, error: String? = nil, result: JSONValue? = nil) {
        self.name = name
        self.status = status
        self.error = error
        self.result = result
    }
}

/// Talks to the ramdisk agent of a task's node, at `driver_internal_info.agent_url` with its
/// agent token.
public protocol RamdiskAgentClient: Sendable {
    /// Runs `extension.command` with `params`; with `wait` it returns once the command ended.
    func run(_ command: String, params: [String: JSONValue], wait: Bool, task: NodeTask) async throws -> AgentCommandStatus
    /// Every command the agent ran since it booted, oldest first.
    func commands(_ task: NodeTask) async throws -> [AgentCommandStatus]
}

/// A deploy interface whose work runs in the ramdisk agent, step by step, moved on by the
/// agent's heartbeats (Ironic's `AgentDeploy`). The conductor keeps the step list and calls
/// back into the interface to run each step; a step that starts an agent command returns
/// `.wait` and the conductor polls the agent on the next heartbeat.
public protocol AgentDeployInterface: DeployInterface {
    /// The client for the node's agent.
    var agent: any RamdiskAgentClient { get }
    /// The interface's own deploy steps with their default priorities.
    func deploySteps(_ task: NodeTask) -> [ProvisionStep]
    /// Runs one of `deploySteps` (or an agent step); `.wait` when it continues in the agent.
    /// A step that waits for something other than the IPA command of its name sets
    /// `driver_internal_info.agent_awaited` to a name ``awaitedStatus(_:task:)`` knows.
    func executeDeployStep(_ step: ProvisionStep, task: NodeTask, driver: ComposedDriver) async throws -> DriverStepResult
    /// The priorities configuration gives agent clean steps (`erase_devices` → 0, ...).
    func cleanStepPriorityOverrides() -> [String: Int]

    /// The clean steps the ramdisk side offers, with their default priorities (IPA:
    /// `clean.get_clean_steps`, keeping its `hardware_manager_version` in the node).
    func ramdiskCleanSteps(_ task: NodeTask) async throws -> [ProvisionStep]
    /// Starts one of `ramdiskCleanSteps`; returns the name of what the step now waits for,
    /// which ``awaitedStatus(_:task:)`` is asked about (IPA: `execute_clean_step`).
    func startRamdiskCleanStep(_ step: ProvisionStep, task: NodeTask) async throws -> String
    /// How the work named `awaited` (set when a step returned `.wait`) stands; nil when
    /// nobody has a record of it (the agent restarted, or the conductor running it did).
    func awaitedStatus(_ awaited: String, task: NodeTask) async throws -> AgentCommandStatus?
    /// Whether `awaited` ends without the ramdisk heartbeating about it (a playbook the
    /// conductor runs): the conductor then calls ``waitForAwaited(_:nodeUUID:)`` with the
    /// node unlocked and carries the steps on when it returns.
    func endsWithoutHeartbeat(_ awaited: String) -> Bool
    /// Returns once the work named `awaited` on the node has ended, suspending and never
    /// blocking a thread. Only called where ``endsWithoutHeartbeat(_:)`` is true.
    func waitForAwaited(_ awaited: String, nodeUUID: String) async
}

extension AgentDeployInterface {
    /// The agent's clean steps (`clean.get_clean_steps`), highest priority of each name kept.
    public func ramdiskCleanSteps(_ task: NodeTask) async throws -> [ProvisionStep] {
        let reply = try await agent.run(
            "clean.get_clean_steps", params: ["node": AgentView.node(task.node), "ports": AgentView.ports(task.ports)], wait: true,
            task: task)
        if reply.status == .failed {
            throw IronicError(status: 500, code: "NodeCleaningFailure", message: reply.error ?? "clean.get_clean_steps failed")
        }
        let result = reply.result?.objectValue ?? [:]
        if let version = result["hardware_manager_version"] {
            task.updateNode { $0.driverInternalInfo["hardware_manager_version"] = version }
        }
        var steps: [ProvisionStep] = []
        for (_, list) in (result["clean_steps"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            for value in list.arrayValue ?? [] {
                guard let object = value.objectValue, let step = ProvisionStep(json: object, inAgent: true) else { continue }
                if let existing = steps.firstIndex(where: { $0.step == step.step && $0.interface == step.interface }) {
                    if step.priority > steps[existing].priority { steps[existing] = step }
                } else {
                    steps.append(step)
                }
            }
        }
        return steps
    }

    /// `clean.execute_clean_step`, not waiting for it.
    public func startRamdiskCleanStep(_ step: ProvisionStep, task: NodeTask) async throws -> String {
        var params: [String: JSONValue] = [
            "step": .object(step.json), "node": AgentView.node(task.node), "ports": AgentView.ports(task.ports),
        ]
        if let version = task.node.driverInternalInfo["hardware_manager_version"] { params["clean_version"] = version }
        _ = try await agent.run("clean.execute_clean_step", params: params, wait: false, task: task)
        return "execute_clean_step"
    }

    /// The last agent command named `awaited`, from the agent's command list.
    public func awaitedStatus(_ awaited: String, task: NodeTask) async throws -> AgentCommandStatus? {
        try await agent.commands(task).last(where: { $0.name == awaited })
    }

    /// Agent commands are followed through heartbeats.
    public func endsWithoutHeartbeat(_ awaited: String) -> Bool { false }

    /// Never called for agent commands.
    public func waitForAwaited(_ awaited: String, nodeUUID: String) async {}
}

/// The node and its ports as the ramdisk agent sees them in command parameters: no secrets
/// (no agent token, config drive, rescue password or BMC credentials).
public enum AgentView {
    /// The node.
    public static func node(_ node: Node) -> JSONValue {
        var internalInfo = node.driverInternalInfo
        internalInfo["agent_secret_token"] = nil
        var instanceInfo = node.instanceInfo
        if instanceInfo["configdrive"] != nil { instanceInfo["configdrive"] = "******" }
        instanceInfo["rescue_password"] = nil
        var driverInfo = node.driverInfo
        for key in driverInfo.keys where key.hasSuffix("password") || key.hasSuffix("_key") { driverInfo[key] = "******" }
        return .object([
            "uuid": .string(node.uuid), "name": node.name.map(JSONValue.string) ?? .null,
            "properties": .object(node.properties), "instance_info": .object(instanceInfo),
            "driver_info": .object(driverInfo), "driver_internal_info": .object(internalInfo),
            "provision_state": .string(node.provisionState.rawValue), "clean_step": .object(node.cleanStep),
            "deploy_step": .object(node.deployStep), "target_raid_config": .object(node.targetRAIDConfig),
        ])
    }

    /// The ports.
    public static func ports(_ ports: [NodePort]) -> JSONValue {
        .array(ports.map { port in
            .object([
                "uuid": .string(port.uuid), "address": .string(port.address), "node_uuid": .string(port.nodeUUID),
                "pxe_enabled": .bool(port.pxeEnabled), "local_link_connection": .object(port.localLinkConnection),
                "physical_network": port.physicalNetwork.map(JSONValue.string) ?? .null,
            ])
        })
    }
}

/// An inspect interface whose inspection runs in the ramdisk agent: the conductor boots the
/// ramdisk, which posts its inventory to `/v1/continue_inspection`.
public protocol RamdiskInspectInterface: InspectInterface {}

/// A rescue interface that rescues through the ramdisk agent (Ironic's `AgentRescue`): the
/// conductor boots the rescue ramdisk and, on its first heartbeat in `rescue wait`, asks the
/// interface to hand the agent the rescue password.
public protocol RamdiskRescueInterface: RescueInterface {
    /// Has the agent set the rescue user's password and stop serving its API
    /// (`rescue.finalize_rescue`); throws when the agent refuses or fails.
    func finalizeRescue(_ task: NodeTask) async throws
}
