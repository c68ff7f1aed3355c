import Core
import Foundation
import Logging

/// `direct` deploy: the ramdisk agent writes the instance image straight to the node's disk
/// (Ironic's `AgentDeploy`).
///
/// Its deploy steps, with Ironic's names and priorities:
///
/// | step | priority | where |
/// |---|---|---|
/// | `deploy` | 100 | conductor: boot the ramdisk, wait for its first heartbeat |
/// | `write_image` | 80 | agent: `standby.prepare_image` (image and config drive) |
/// | `prepare_instance_boot` | 60 | conductor: boot device `disk`, persistent |
/// | `tear_down_agent` | 40 | agent `standby.sync` + `standby.power_off`, then a hard power off if needed |
/// | `switch_to_tenant_network` | 30 | conductor: the network interface (`noop`: nothing) |
/// | `boot_instance` | 20 | conductor: power on |
public struct DirectDeploy: AgentDeployInterface {
    public let name = "direct"
    let settings: DeployConfig
    let client: AgentClient
    let images: ImageCache

    /// Creates the interface over `[deploy]` settings and an agent client.
    public init(settings: DeployConfig, client: AgentClient, images: ImageCache) {
        self.settings = settings
        self.client = client
        self.images = images
    }

    public var agent: any RamdiskAgentClient { client }

    public var properties: [String: String] {
        [
            "deploy_forces_oob_reboot":
                "Whether to power the node off through its BMC after the image is written instead of asking the agent to. Optional.",
        ]
    }

    public func validate(_ task: NodeTask) async throws {
        let info = task.node.instanceInfo
        guard let source = info["image_source"]?.stringValue, !source.isEmpty else {
            throw IronicError.missingParameterValue(
                "Node \(task.node.uuid) is missing the following parameters in instance_info: image_source.")
        }
        if let format = info["image_disk_format"]?.stringValue, !["raw", "qcow2"].contains(format) {
            throw IronicError.invalidParameterValue(
                "Unsupported image_disk_format \(format) for node \(task.node.uuid): raw or qcow2 whole-disk images are supported.")
        }
        _ = try ImageRequest(instanceInfo: info, nodeUUID: task.node.uuid)
    }

    public func deploy(_ task: NodeTask) async throws -> DriverStepResult { .wait }

    public func tearDown(_ task: NodeTask) async throws {
        await images.unpublish(nodeUUID: task.node.uuid)
    }

    public func deploySteps(_ task: NodeTask) -> [ProvisionStep] {
        ProvisionStep.agentDeploySteps
    }

    public func cleanStepPriorityOverrides() -> [String: Int] {
        settings.eraseStepPriorities
    }

    public func executeDeployStep(_ step: ProvisionStep, task: NodeTask, driver: ComposedDriver) async throws -> DriverStepResult {
        if step.inAgent {
            _ = try await client.run(
                "deploy.execute_deploy_step",
                params: ["step": .object(step.json), "node": AgentView.node(task.node), "ports": AgentView.ports(task.ports)],
                wait: false, task: task)
            return .wait
        }
        switch step.step {
        case "deploy":
            // The conductor boots the ramdisk before the first step; the step ends on the
            // agent's first heartbeat.
            return .done
        case "write_image":
            try await writeImage(task)
            return .wait
        case "prepare_instance_boot":
            try await driver.boot?.prepareInstance(task)
            try await driver.management?.bootFromDisk(on: task)
            return .done
        case "tear_down_agent":
            try await tearDownAgent(task, driver: driver)
            return .done
        case "switch_to_tenant_network":
            return .done
        case "boot_instance":
            if let power = driver.power {
                try await power.setPowerState(.on, on: task, timeout: nil)
                task.updateNode { $0.powerState = .on }
            }
            return .done
        default:
            throw IronicError.invalidParameterValue("Deploy step deploy.\(step.step) is not offered by the direct deploy interface.")
        }
    }

    /// Starts `standby.prepare_image`: the image (from the conductor's cache or its own URL)
    /// and the config drive.
    private func writeImage(_ task: NodeTask) async throws {
        let request = try ImageRequest(instanceInfo: task.node.instanceInfo, nodeUUID: task.node.uuid)
        let url: String
        if settings.imageDownloadSource == "direct", request.source.hasPrefix("http://") || request.source.hasPrefix("https://") {
            url = request.source
        } else {
            url = try await images.publish(source: request.source, nodeUUID: task.node.uuid, checksum: request.checksum).absoluteString
        }
        var imageInfo: [String: JSONValue] = [
            "id": .string(request.imageID),
            "urls": [.string(url)],
            "disk_format": .string(request.diskFormat),
            "container_format": "bare",
            "image_type": "whole-disk",
            "stream_raw_images": true,
            "node_uuid": .string(task.node.uuid),
        ]
        if let checksum = request.checksum {
            imageInfo["os_hash_algo"] = .string(checksum.algorithm)
            imageInfo["os_hash_value"] = .string(checksum.value)
            if checksum.algorithm == "md5" { imageInfo["checksum"] = .string(checksum.value) }
        }
        if let hints = task.node.properties["root_device"], hints.objectValue != nil { imageInfo["root_device"] = hints }
        let configdrive = try await ConfigDrive.value(from: task.node.instanceInfo["configdrive"], node: task.node)
        _ = try await client.run(
            "standby.prepare_image", params: ["image_info": .object(imageInfo), "configdrive": configdrive ?? .null],
            wait: false, task: task)
    }

    /// Ends the agent's work: flush the disks, ask the agent to power off, and make sure the
    /// node is off (a hard power off when it is still on after ~30 s).
    private func tearDownAgent(_ task: NodeTask, driver: ComposedDriver) async throws {
        // `[agent] deploy_logs_collect = always`: the logs of a deploy that worked, while the
        // agent still answers.
        await RamdiskLogs.collect(task, agent: client, settings: settings, label: "deploy", failed: false)
        guard let power = driver.power else { return }
        let forceOOB = task.node.driverInfo["deploy_forces_oob_reboot"]?.boolValue ?? false
        if !forceOOB {
            _ = try? await client.run("standby.sync", params: [:], wait: true, task: task)
            _ = try? await client.run("standby.power_off", params: [:], wait: false, task: task)
            for _ in 0..<15 {
                try await Task.sleep(for: .seconds(2))
                if (try? await power.powerState(of: task)) == .off { break }
            }
        }
        if (try? await power.powerState(of: task)) != .off {
            try await power.setPowerState(.off, on: task, timeout: nil)
        }
        task.updateNode { $0.powerState = .off }
    }
}

/// What `instance_info` asks to be written.
struct ImageRequest {
    var source: String
    var imageID: String
    var diskFormat: String
    var checksum: ImageChecksum?

    init(instanceInfo info: [String: JSONValue], nodeUUID: String) throws(IronicError) {
        guard let source = info["image_source"]?.stringValue, !source.isEmpty else {
            throw .missingParameterValue("Node \(nodeUUID) is missing the following parameters in instance_info: image_source.")
        }
        self.source = source
        imageID = URL(string: source)?.lastPathComponent ?? source
        let lowered = source.lowercased()
        diskFormat = info["image_disk_format"]?.stringValue ?? (lowered.hasSuffix(".qcow2") ? "qcow2" : "raw")
        if let algorithm = info["image_os_hash_algo"]?.stringValue, let value = info["image_os_hash_value"]?.stringValue {
            guard ["md5", "sha256", "sha512"].contains(algorithm) else {
                throw .invalidParameterValue("Unsupported image_os_hash_algo \(algorithm) for node \(nodeUUID): md5, sha256 or sha512.")
            }
            checksum = ImageChecksum(algorithm: algorithm, value: value.lowercased())
        } else if let value = info["image_checksum"]?.stringValue, !value.isEmpty {
            let hex = value.lowercased()
            let algorithm: String
            switch hex.count {
            case 32: algorithm = "md5"
            case 64: algorithm = "sha256"
            case 128: algorithm = "sha512"
            default:
                throw .invalidParameterValue(
                    "Invalid image_checksum \(value) for node \(nodeUUID): expected an md5, sha256 or sha512 hex digest.")
            }
            guard hex.allSatisfy(\.isHexDigit) else {
                throw .invalidParameterValue("Invalid image_checksum \(value) for node \(nodeUUID): not a hex digest.")
            }
            checksum = ImageChecksum(algorithm: algorithm, value: hex)
        } else if lowered.hasPrefix("http://") || lowered.hasPrefix("https://") || lowered.hasPrefix("file://") || source.hasPrefix("/") {
            throw .missingParameterValue(
                "Node \(nodeUUID) is missing the following parameters in instance_info: image_checksum (or image_os_hash_algo and image_os_hash_value).")
        } else {
            checksum = nil
        }
    }
}
