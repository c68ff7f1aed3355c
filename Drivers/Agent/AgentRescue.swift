import CCrypt
import Core

/// `agent` rescue: boots the rescue ramdisk (ironic-python-agent) and, once it heartbeats,
/// hands it the rescue password; the agent then stops serving its API and the machine stays
/// up in the ramdisk for its user to log in as `rescue` (Ironic's `AgentRescue`).
///
/// The conductor does the power and boot work around it: clean up the instance's boot,
/// boot the ramdisk with `rescue_kernel`/`rescue_ramdisk`, wait in `rescue wait`, call
/// ``finalizeRescue(_:)`` on the first heartbeat; unrescue reboots the instance from its disk.
/// The password is sent crypt(3)-hashed (`[conductor] rescue_password_hash_algorithm`), never
/// in the clear, and both forms leave `instance_info` once the rescue ends.
public struct AgentRescue: RamdiskRescueInterface {
    public let name = "agent"
    let settings: DeployConfig
    let agent: any RamdiskAgentClient

    /// Creates the interface over `[conductor]` settings and the agent's client.
    public init(settings: DeployConfig, agent: any RamdiskAgentClient) {
        self.settings = settings
        self.agent = agent
    }

    public var properties: [String: String] {
        BootRamdisk.properties.filter { $0.key.hasPrefix("rescue_") }
    }

    /// Ironic's checks: a non-empty rescue password and the rescue kernel and ramdisk.
    public func validate(_ task: NodeTask) async throws {
        let node = task.node
        guard let password = node.instanceInfo["rescue_password"]?.stringValue else {
            throw IronicError.missingParameterValue(
                "Node \(node.uuid) is missing 'instance_info/rescue_password'. It is required for rescuing node.")
        }
        guard !password.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw IronicError.invalidParameterValue(
                "The 'instance_info/rescue_password' is an empty string for node \(node.uuid). The 'rescue_password' must be a non-empty string value.")
        }
        _ = try BootRamdisk.sources(node, purpose: .rescue)
    }

    /// Hashes the rescue password into `instance_info.hashed_rescue_password`; the conductor
    /// then boots the ramdisk and waits (`.wait`).
    public func rescue(_ task: NodeTask) async throws -> DriverStepResult {
        guard let password = task.node.instanceInfo["rescue_password"]?.stringValue else {
            throw IronicError.missingParameterValue("Agent rescue requires rescue_password in instance_info")
        }
        let hashed = try Self.hash(password, algorithm: settings.rescuePasswordHashAlgorithm)
        task.updateNode { $0.instanceInfo["hashed_rescue_password"] = .string(hashed) }
        return .wait
    }

    public func finalizeRescue(_ task: NodeTask) async throws {
        guard let hashed = task.node.instanceInfo["hashed_rescue_password"]?.stringValue else {
            throw IronicError.invalidParameterValue("Agent rescue requires rescue_password in instance_info")
        }
        let reply = try await agent.run(
            "rescue.finalize_rescue", params: ["rescue_password": .string(hashed), "hashed": true], wait: true, task: task)
        guard reply.status == .succeeded else {
            throw IronicError(
                status: 500, code: "InstanceRescueFailure",
                message: "Failed to rescue instance \(task.node.instanceUUID ?? "") for node \(task.node.uuid): Agent returned bad result for command finalize_rescue: \(reply.error ?? reply.status.rawValue)")
        }
        Self.forgetPassword(task)
    }

    /// The conductor has booted the instance again; the password goes.
    public func unrescue(_ task: NodeTask) async throws {
        Self.forgetPassword(task)
    }

    /// Removes both forms of the password from `instance_info` (Ironic's
    /// `remove_node_rescue_password`).
    public static func forgetPassword(_ task: NodeTask) {
        task.updateNode { node in
            node.instanceInfo["rescue_password"] = nil
            node.instanceInfo["hashed_rescue_password"] = nil
        }
    }

    /// crypt(3) of `password` with a fresh salt: `$5$…` for sha256, `$6$…` for sha512.
    static func hash(_ password: String, algorithm: String) throws(IronicError) -> String {
        let prefix = algorithm == "sha512" ? "$6$" : "$5$"
        var salt = [CChar](repeating: 0, count: 64)
        guard crypt_gensalt_rn(prefix, 0, nil, 0, &salt, Int32(salt.count)) != nil else {
            throw IronicError(status: 500, code: "IronicException", message: "Could not generate a salt for the rescue password.")
        }
        var data = crypt_data()
        guard let result = crypt_r(password, salt, &data), case let text = String(cString: result), !text.hasPrefix("*") else {
            throw IronicError(status: 500, code: "IronicException", message: "Could not hash the rescue password with \(algorithm).")
        }
        return text
    }
}
