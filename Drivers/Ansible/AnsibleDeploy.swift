import AgentDrivers
import AsyncHTTPClient
import Core
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// `ansible` deploy: the conductor runs Ansible playbooks over SSH against the deploy ramdisk,
/// which writes the image (Ironic's `AnsibleDeploy`). The ramdisk is the usual agent ramdisk
/// with an SSH server and a user Ansible may log in as; its heartbeats give its address
/// (`agent_url`) and keep the node's call-back timeout from expiring while playbooks run.
///
/// Its deploy steps, with Ironic's names and priorities:
///
/// | step | priority | where |
/// |---|---|---|
/// | `deploy` | 100 | conductor: boot the ramdisk, wait for its first heartbeat |
/// | `write_image` | 80 | the deploy playbook (`ansible:deploy`): image, config drive |
/// | `prepare_instance_boot` | 60 | conductor: boot device `disk`, persistent (ours, as `direct`'s) |
/// | `tear_down_agent` | 40 | the shutdown playbook (`ansible:shutdown`); its failure is only a warning |
/// | `switch_to_tenant_network` | 30 | conductor: nothing (`noop` network) |
/// | `boot_instance` | 20 | conductor: wait for the node to be off, a hard power off if it is not, power on |
///
/// Clean steps come from the clean steps file (``AnsibleCleanSteps``), each run as the clean
/// playbook (`ansible:clean:<step>`) with its `tags`. Every playbook goes through the process's
/// ``AnsibleRunner``, which batches nodes; a step that started one returns `.wait` and the
/// conductor carries the steps on once it ended, with the node unlocked meanwhile.
public struct AnsibleDeploy: AgentDeployInterface {
    /// `ansible`.
    public let name = "ansible"
    let settings: AnsibleConfig
    let deploySettings: DeployConfig
    /// The process's runner.
    public let runner: AnsibleRunner
    let imageSize: @Sendable (String) async throws -> Int?
    let logger: Logger

    /// Prefix of every name this interface waits on in `agent_awaited`.
    public static let awaitedPrefix = "ansible:"
    /// What `write_image` waits on.
    public static let deployAwaited = "ansible:deploy"
    /// What `tear_down_agent` waits on.
    public static let shutdownAwaited = "ansible:shutdown"
    /// Set in `driver_internal_info` when the shutdown playbook failed: `boot_instance` then
    /// powers the node off at once.
    static let softPowerOffFailedKey = "ansible_soft_power_off_failed"

    /// Creates the interface over `[ansible]` and `[deploy]` settings and the process's runner.
    ///
    /// - Parameter imageSize: the size in bytes of the image at a URL, for `ironic.image.mem_req`
    ///   (default: a `HEAD` request's `Content-Length`).
    public init(
        settings: AnsibleConfig, deploy: DeployConfig = DeployConfig(), runner: AnsibleRunner,
        logger: Logger = Logger(label: "ironic.ansible"),
        imageSize: @escaping @Sendable (String) async throws -> Int? = AnsibleDeploy.contentLength
    ) {
        self.settings = settings
        self.deploySettings = deploy
        self.runner = runner
        self.logger = logger
        self.imageSize = imageSize
    }

    /// Ansible talks to the ramdisk over SSH, never through the agent's API.
    public var agent: any RamdiskAgentClient { NoAgentAPI() }

    /// Ironic's `driver_info` keys, `ansible_port` (ours) and `deploy_forces_oob_reboot`.
    public var properties: [String: String] {
        [
            "ansible_username":
                "Deploy ramdisk username for Ansible. This user must have passwordless sudo permissions. Optional.",
            "ansible_key_file":
                "Full path to private SSH key file. If not specified, default keys for user running ironic-conductor process will be used. Note that for keys with password, those must be pre-loaded into ssh-agent. Optional.",
            "ansible_playbooks_path":
                "Path to folder holding playbooks to use for this node. Optional. Default is set in ironic config.",
            "ansible_deploy_playbook":
                "Name of the Ansible playbook file inside the \"ansible_playbooks_path\" folder which is used for node deployment. Optional.",
            "ansible_shutdown_playbook":
                "Name of the Ansible playbook file inside the \"ansible_playbooks_path\" folder which is used for node shutdown. Optional.",
            "ansible_clean_playbook":
                "Name of the Ansible playbook file inside the \"ansible_playbooks_path\" folder which is used for node cleaning. Optional.",
            "ansible_clean_steps_config":
                "Name of the file inside the \"ansible_playbooks_path\" folder with cleaning steps configuration. Optional.",
            "ansible_python_interpreter": "Absolute path to the python interpreter on the managed machines. Optional.",
            "ansible_port":
                "SSH port of the deploy ramdisk, passed to playbooks as the node's \"port\" in ironic.nodes. Optional, default 22.",
            "deploy_forces_oob_reboot":
                "Whether to power the node off through its BMC after the image is written instead of running the shutdown playbook. Optional.",
        ]
    }

    /// Ironic's checks: `instance_info.image_source` is set and the root device hints are plain
    /// values; `ansible_port` is a port. (The boot interface is validated by the conductor
    /// before it boots the ramdisk, and with every `validate` request.)
    public func validate(_ task: NodeTask) async throws {
        let node = task.node
        let source = node.instanceInfo["image_source"]?.stringValue ?? ""
        guard !source.isEmpty else {
            throw IronicError.missingParameterValue(
                "Node \(node.uuid) failed to validate deploy image info. Some parameters were missing. Missing are: ['instance_info.image_source']"
            )
        }
        _ = try AnsibleExtraVars.rootDeviceHints(of: node)
        _ = try port(of: node)
    }

    /// Not called: the conductor runs the deploy steps.
    public func deploy(_ task: NodeTask) async throws -> DriverStepResult { .wait }

    /// Undeploying forgets the node's queued playbook or unread outcome and its config drive file.
    public func tearDown(_ task: NodeTask) async throws {
        await runner.forget(nodeUUID: task.node.uuid)
        try? FileManager.default.removeItem(atPath: AnsibleExtraVars.configdrivePath(nodeUUID: task.node.uuid, settings: settings))
    }

    /// The steps of the table above.
    public func deploySteps(_ task: NodeTask) -> [ProvisionStep] {
        ProvisionStep.agentDeploySteps
    }

    /// `[deploy] erase_devices_priority` and `erase_devices_metadata_priority`, as Ironic.
    public func cleanStepPriorityOverrides() -> [String: Int] {
        deploySettings.eraseStepPriorities
    }

    /// Runs one of ``deploySteps(_:)``; `write_image` and `tear_down_agent` queue a playbook
    /// and return `.wait`.
    public func executeDeployStep(_ step: ProvisionStep, task: NodeTask, driver: ComposedDriver) async throws -> DriverStepResult {
        if step.inAgent {
            throw IronicError.invalidParameterValue(
                "Deploy step \(step.qualifiedName) is not offered by the ansible deploy interface: it runs no steps in the ramdisk agent.")
        }
        switch step.step {
        case "deploy":
            // The conductor boots the ramdisk before the first step; the step ends on its first heartbeat.
            return .done
        case "write_image":
            try await writeImage(task)
            return .wait
        case "prepare_instance_boot":
            try await driver.boot?.prepareInstance(task)
            try await driver.management?.bootFromDisk(on: task)
            return .done
        case "tear_down_agent":
            return try await tearDownAgent(task, driver: driver)
        case "switch_to_tenant_network":
            return .done
        case "boot_instance":
            try await bootInstance(task, driver: driver)
            return .done
        default:
            throw IronicError.invalidParameterValue("Deploy step deploy.\(step.step) is not offered by the ansible deploy interface.")
        }
    }

    // MARK: Clean steps

    /// The steps of the node's clean steps file (`driver_info.ansible_clean_steps_config` or
    /// `[ansible] default_clean_steps_config`, in the playbooks directory).
    public func ramdiskCleanSteps(_ task: NodeTask) async throws -> [ProvisionStep] {
        try AnsibleCleanSteps.load(path: cleanStepsPath(task.node), nodeUUID: task.node.uuid)
    }

    /// Queues the clean playbook with the step's `tags` (from the step's arguments, else from
    /// the clean steps file).
    public func startRamdiskCleanStep(_ step: ProvisionStep, task: NodeTask) async throws -> String {
        var tags = Self.strings(step.args["tags"])
        if tags == nil {
            let defined = try? AnsibleCleanSteps.load(path: cleanStepsPath(task.node), nodeUUID: task.node.uuid)
            tags = Self.strings(defined?.first { $0.step == step.step }?.args["tags"])
        }
        var variables: [String: JSONValue] = [:]
        if !task.node.targetRAIDConfig.isEmpty { variables["raid_config"] = .object(task.node.targetRAIDConfig) }
        let awaited = "\(Self.awaitedPrefix)clean:\(step.step)"
        let job = try job(for: task, action: "clean", awaited: awaited, variables: variables, tags: tags ?? [])
        try await runner.submit(job)
        task.logger.info("queued clean step \(step.step) (tags \(job.tags.joined(separator: ","))) as \(job.playbook)")
        return awaited
    }

    // MARK: Awaited playbooks

    /// The runner's record of the node's playbook; a failed shutdown playbook counts as
    /// succeeded (a warning), as in Ironic, and `boot_instance` then powers the node off.
    public func awaitedStatus(_ awaited: String, task: NodeTask) async throws -> AgentCommandStatus? {
        guard awaited.hasPrefix(Self.awaitedPrefix) else { return nil }
        guard var status = await runner.status(nodeUUID: task.node.uuid, awaited: awaited) else { return nil }
        if awaited == Self.shutdownAwaited, status.status == .failed {
            task.logger.warning(
                "Failed to soft power off node \(task.node.uuid) with the shutdown playbook: \(status.error ?? "no reason")")
            task.updateNode { $0.driverInternalInfo[Self.softPowerOffFailedKey] = true }
            status = AgentCommandStatus(name: awaited, status: .succeeded, error: nil, result: status.error.map(JSONValue.string))
        }
        return status
    }

    /// Playbooks end without the ramdisk's heartbeats.
    public func endsWithoutHeartbeat(_ awaited: String) -> Bool { awaited.hasPrefix(Self.awaitedPrefix) }

    /// Suspends until the runner has the playbook's outcome.
    public func waitForAwaited(_ awaited: String, nodeUUID: String) async {
        await runner.wait(nodeUUID: nodeUUID, awaited: awaited)
    }

    // MARK: Steps

    /// Queues the deploy playbook with the image, config drive, root device hints and RAID
    /// configuration.
    private func writeImage(_ task: NodeTask) async throws {
        let node = task.node
        if node.instanceInfo["image_mem_req"] == nil, let megabytes = try await imageMemoryRequirement(node) {
            task.updateNode { $0.instanceInfo["image_mem_req"] = .int(megabytes) }
        }
        var variables = try Self.deployVariables(task.node, settings: settings)
        var written: [String] = []
        // A config drive given as meta_data/user_data is built as for the agent: the playbook
        // gets the gzipped ISO in base64 in a file.
        var withDrive = task.node
        if case .object? = withDrive.instanceInfo["configdrive"] {
            withDrive.instanceInfo["configdrive"] = try await ConfigDrive.value(from: withDrive.instanceInfo["configdrive"], node: withDrive)
        }
        if let configdrive = try AnsibleExtraVars.configdrive(of: withDrive, settings: settings) {
            variables["configdrive"] = configdrive.variable
            if let path = configdrive.written { written.append(path) }
        }
        do {
            let job = try job(for: task, action: "deploy", awaited: Self.deployAwaited, variables: variables, temporaryFiles: written)
            try await runner.submit(job)
            task.updateNode { $0.driverInternalInfo["agent_awaited"] = .string(Self.deployAwaited) }
            task.logger.info("queued \(job.playbook) to write the image")
        } catch {
            for path in written { try? FileManager.default.removeItem(atPath: path) }
            throw error
        }
    }

    /// The deploy playbook's variables besides `nodes` and `configdrive`: `image`,
    /// `root_device_hints` and `raid_config`.
    public static func deployVariables(_ node: Node, settings: AnsibleConfig) throws -> [String: JSONValue] {
        var variables: [String: JSONValue] = ["image": .object(AnsibleExtraVars.image(node.instanceInfo, settings: settings))]
        if let hints = try AnsibleExtraVars.rootDeviceHints(of: node), !hints.isEmpty { variables["root_device_hints"] = .object(hints) }
        if !node.targetRAIDConfig.isEmpty { variables["raid_config"] = .object(node.targetRAIDConfig) }
        return variables
    }

    /// Ironic's `image_mem_req`: the image in MiB plus `[ansible] extra_memory`; nil when the
    /// image is not at an HTTP(S) URL.
    private func imageMemoryRequirement(_ node: Node) async throws -> Int? {
        let url = node.instanceInfo["image_url"]?.stringValue ?? node.instanceInfo["image_source"]?.stringValue ?? ""
        guard AnsibleExtraVars.isHTTP(url) else { return nil }
        let bytes: Int?
        do {
            bytes = try await imageSize(url)
        } catch {
            throw IronicError(
                status: 500, code: "InstanceDeployFailure",
                message: "Could not find the size of image \(url) for node \(node.uuid): \(error)")
        }
        guard let bytes else { return nil }
        return (bytes + (1 << 20) - 1) / (1 << 20) + settings.extraMemoryMiB
    }

    /// `Content-Length` of a `HEAD` request to `url`.
    @Sendable public static func contentLength(_ url: String) async throws -> Int? {
        var request = HTTPClientRequest(url: url)
        request.method = .HEAD
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        guard (200..<300).contains(Int(response.status.code)) else {
            throw IronicError(status: 500, code: "ImageDownloadFailed", message: "HEAD \(url) answered \(response.status.code)")
        }
        return response.headers.first(name: "content-length").flatMap { Int($0) }
    }

    /// Runs the shutdown playbook, or with `deploy_forces_oob_reboot` powers the node off through its BMC.
    private func tearDownAgent(_ task: NodeTask, driver: ComposedDriver) async throws -> DriverStepResult {
        task.updateNode { $0.driverInternalInfo[Self.softPowerOffFailedKey] = nil }
        if Self.bool(task.node.driverInfo["deploy_forces_oob_reboot"]) {
            if let power = driver.power {
                try await power.setPowerState(.off, on: task, timeout: nil)
                task.updateNode { $0.powerState = .off }
            }
            return .done
        }
        do {
            let job = try job(for: task, action: "shutdown", awaited: Self.shutdownAwaited)
            try await runner.submit(job)
        } catch {
            // As in Ironic: the node is powered off through its BMC instead.
            task.logger.warning("Failed to soft power off node \(task.node.uuid): \(error)")
            task.updateNode { $0.driverInternalInfo[Self.softPowerOffFailedKey] = true }
            return .done
        }
        task.updateNode { $0.driverInternalInfo["agent_awaited"] = .string(Self.shutdownAwaited) }
        return .wait
    }

    /// Waits for the node to be off after the shutdown playbook (`[ansible]
    /// post_deploy_get_power_state_retries` × `..._retry_interval`), powers it off through
    /// its BMC if it is not, then on.
    private func bootInstance(_ task: NodeTask, driver: ComposedDriver) async throws {
        guard let power = driver.power else { return }
        let softFailed = task.node.driverInternalInfo[Self.softPowerOffFailedKey]?.boolValue ?? false
        var state = try? await power.powerState(of: task)
        if !softFailed, !Self.bool(task.node.driverInfo["deploy_forces_oob_reboot"]) {
            var attempt = 0
            while state != .off, attempt < settings.postDeployGetPowerStateRetries {
                try await Task.sleep(for: settings.postDeployGetPowerStateRetryInterval)
                state = try? await power.powerState(of: task)
                attempt += 1
            }
            if state != .off {
                let waited = settings.postDeployGetPowerStateRetryInterval * settings.postDeployGetPowerStateRetries
                task.logger.warning(
                    "Node \(task.node.uuid) is not off \(waited.components.seconds) s after the shutdown playbook; powering it off through its BMC."
                )
            }
        }
        if state != .off {
            try await power.setPowerState(.off, on: task, timeout: nil)
        }
        task.updateNode {
            $0.powerState = .off
            $0.driverInternalInfo[Self.softPowerOffFailedKey] = nil
        }
        try await power.setPowerState(.on, on: task, timeout: nil)
        task.updateNode { $0.powerState = .on }
    }

    // MARK: Jobs

    /// The node's job for `action` (`deploy`, `shutdown`, `clean`): the playbook `driver_info`
    /// or `[ansible]` names, the SSH user, key and port, and the ramdisk's address.
    func job(
        for task: NodeTask, action: String, awaited: String, variables: [String: JSONValue] = [:], tags: [String] = [],
        temporaryFiles: [String] = []
    ) throws -> AnsibleJob {
        let node = task.node
        let info = node.driverInfo
        let configured: String
        switch action {
        case "deploy": configured = settings.defaultDeployPlaybook
        case "shutdown": configured = settings.defaultShutdownPlaybook
        default: configured = settings.defaultCleanPlaybook
        }
        let playbook = Self.nonEmpty(info["ansible_\(action)_playbook"]) ?? configured
        guard !playbook.isEmpty else {
            throw IronicError(status: 500, code: "PlaybookNotFound", message: "Failed to set ansible playbook for action \(action)")
        }
        let user = Self.nonEmpty(info["ansible_username"]) ?? settings.defaultUsername
        let host = AnsibleExtraVars.host(
            uuid: node.uuid, ip: try AnsibleExtraVars.address(of: node), user: user, extra: node.extra, port: try port(of: node))
        return AnsibleJob(
            nodeUUID: node.uuid, awaited: awaited, playbooksPath: playbooksPath(node), playbook: (playbook as NSString).lastPathComponent,
            user: user, keyFile: Self.nonEmpty(info["ansible_key_file"]) ?? settings.defaultKeyFile,
            pythonInterpreter: Self.nonEmpty(info["ansible_python_interpreter"]) ?? settings.defaultPythonInterpreter, tags: tags,
            host: host, variables: variables, temporaryFiles: temporaryFiles)
    }

    private func playbooksPath(_ node: Node) -> String {
        Self.nonEmpty(node.driverInfo["ansible_playbooks_path"]) ?? settings.resolvedPlaybooksPath
    }

    private func cleanStepsPath(_ node: Node) -> String {
        let file = Self.nonEmpty(node.driverInfo["ansible_clean_steps_config"]) ?? settings.defaultCleanStepsConfig
        return (playbooksPath(node) as NSString).appendingPathComponent((file as NSString).lastPathComponent)
    }

    /// `driver_info.ansible_port`, default 22.
    private func port(of node: Node) throws(IronicError) -> Int {
        switch node.driverInfo["ansible_port"] {
        case nil, .null?: return 22
        case .int(let port)? where (1...65535).contains(port): return port
        case .string(let text)? where Int(text).map { (1...65535).contains($0) } ?? false: return Int(text)!
        case let value?:
            throw .invalidParameterValue(
                "Invalid driver_info.ansible_port \(value.serialized()) for node \(node.uuid): expected a port number.")
        }
    }

    private static func nonEmpty(_ value: JSONValue?) -> String? {
        guard let text = value?.stringValue, !text.isEmpty else { return nil }
        return text
    }

    private static func bool(_ value: JSONValue?) -> Bool {
        switch value {
        case .bool(let flag)?: return flag
        case .string(let text)?: return ["1", "t", "true", "on", "y", "yes"].contains(text.lowercased())
        case .int(let number)?: return number != 0
        default: return false
        }
    }

    private static func strings(_ value: JSONValue?) -> [String]? {
        switch value {
        case .array(let items)?: return items.compactMap(\.stringValue)
        case .string(let text)?: return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        default: return nil
        }
    }
}

/// The ramdisk agent's API, which the `ansible` deploy never uses.
struct NoAgentAPI: RamdiskAgentClient {
    func run(_ command: String, params: [String: JSONValue], wait: Bool, task: NodeTask) async throws -> AgentCommandStatus {
        throw IronicError(
            status: 400, code: "UnsupportedDriverExtension",
            message:
                "The ansible deploy interface of node \(task.node.uuid) runs playbooks over SSH; it does not send the agent \(command).")
    }

    func commands(_ task: NodeTask) async throws -> [AgentCommandStatus] { [] }
}
