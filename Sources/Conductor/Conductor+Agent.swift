import Core
import Foundation
import RPC
import Store

/// Provisioning through a ramdisk agent: lookup and heartbeats, deploy and clean steps run
/// step by step, inspection data, and call-back timeouts.
///
/// The state of the work lives on the node, never in this process: the steps and the index of
/// the current one in `driver_internal_info` (`deploy_steps`/`deploy_step_index`,
/// `clean_steps`/`clean_step_index`), and what the current step waits for in
/// `agent_awaited` (`heartbeat`, or the agent command it started). A heartbeat that reaches
/// any conductor the hash ring gives the node therefore carries the work on, including after
/// the conductor that started it died.
extension Conductor {
    /// Keys of `driver_internal_info` this file owns.
    enum AgentKey {
        static let token = "agent_secret_token"
        static let url = "agent_url"
        static let version = "agent_version"
        static let lastHeartbeat = "agent_last_heartbeat"
        static let verifyCA = "agent_verify_ca"
        static let status = "agent_status"
        static let statusMessage = "agent_status_message"
        static let awaited = "agent_awaited"
        static let deploySteps = "deploy_steps"
        static let deployStepIndex = "deploy_step_index"
        static let cleanSteps = "clean_steps"
        static let cleanStepIndex = "clean_step_index"
        static let manualCleanSteps = "manual_clean_steps"
        static let cleanVersion = "hardware_manager_version"
        static let userDeploySteps = "user_deploy_steps"

        /// What a new ramdisk boot starts without.
        static let perBoot = [token, url, version, lastHeartbeat, verifyCA, status, statusMessage, awaited, cleanVersion]
    }

    /// The value `agent_awaited` holds while a step waits for the ramdisk's first heartbeat.
    static let awaitingHeartbeat = "heartbeat"

    /// States in which a heartbeat has work to move on.
    static let heartbeatStates: Set<ProvisionState> = [.deployWait, .cleanWait, .inspectWait, .rescueWait, .deploying, .cleaning, .inspecting]

    // MARK: Lookup, heartbeat, inspection data

    public func getNodeWithToken(_ request: NodeRequest) async throws -> Node {
        try await withExclusiveLock(request.nodeUUID, purpose: "agent lookup") { task in
            if task.node.driverInternalInfo[AgentKey.token]?.stringValue == nil {
                let token = Self.newAgentToken()
                task.updateNode { $0.driverInternalInfo[AgentKey.token] = .string(token) }
                try await tasks.save(task)
                await recordHistory(task.node, .info, .provisioning, "Agent token issued to the ramdisk of node \(task.node.uuid) on lookup.")
                return task.node
            }
            var node = task.node
            node.driverInternalInfo[AgentKey.token] = "******"
            return node
        }
    }

    public func heartbeat(_ request: HeartbeatRequest) async throws {
        let task = try await tasks.acquire(request.nodeUUID, purpose: "agent heartbeat")
        let work: (@Sendable (NodeTask) async -> Void)?
        do {
            guard Self.tokenMatches(task.node.driverInternalInfo[AgentKey.token]?.stringValue, request.agentToken) else {
                throw IronicError.invalidParameterValue("Invalid or missing agent token received.")
            }
            guard let callback = URL(string: request.callbackURL), callback.scheme == "http" || callback.scheme == "https",
                callback.host != nil
            else {
                throw IronicError.invalidParameterValue("Invalid callback_url \(request.callbackURL) in heartbeat of node \(task.node.uuid).")
            }
            task.updateNode { node in
                node.driverInternalInfo[AgentKey.url] = .string(request.callbackURL)
                node.driverInternalInfo[AgentKey.lastHeartbeat] = .string(IronicDate.format(Date()))
                if let version = request.agentVersion { node.driverInternalInfo[AgentKey.version] = .string(version) }
                if let ca = request.agentVerifyCA { node.driverInternalInfo[AgentKey.verifyCA] = .string(ca) }
                if let status = request.agentStatus { node.driverInternalInfo[AgentKey.status] = .string(status) }
                if let message = request.agentStatusMessage { node.driverInternalInfo[AgentKey.statusMessage] = .string(message) }
                if Self.heartbeatStates.contains(node.provisionState) { node.provisionUpdatedAt = Date() }
            }
            work = try heartbeatWork(for: task)
            try await tasks.save(task)
        } catch {
            await tasks.release(task, save: false)
            throw error
        }
        guard let work else {
            await tasks.release(task)
            return
        }
        try await spawnWorker(task, work)
    }

    /// What a heartbeat moves on in the node's state, run by a worker with the lock held; nil
    /// when there is nothing to do (a step still runs in the agent, or the state has no
    /// ramdisk work).
    private func heartbeatWork(for task: NodeTask) throws -> (@Sendable (NodeTask) async -> Void)? {
        let driver = try tasks.driver(for: task)
        if task.node.provisionState == .rescueWait {
            guard let rescue = driver.rescue as? any RamdiskRescueInterface else { return nil }
            return { [self] task in await finishAgentRescue(task, driver: driver, rescue: rescue) }
        }
        guard let deploy = driver.deploy as? any AgentDeployInterface else { return nil }
        switch task.node.provisionState {
        case .deployWait:
            return { [self] task in await continueSteps(.deploy, task: task, driver: driver, deploy: deploy) }
        case .cleanWait:
            return { [self] task in await continueSteps(.clean, task: task, driver: driver, deploy: deploy) }
        default:
            return nil
        }
    }

    public func continueInspection(_ request: ContinueInspectionRequest) async throws -> Node {
        try await withExclusiveLock(request.nodeUUID, purpose: "inspection data") { task in
            let node = task.node
            guard node.provisionState == .inspectWait || node.provisionState == .inspecting else {
                throw IronicError.invalidState(
                    "Node \(node.uuid) is not waiting for inspection data: provision state \"\(node.provisionState.rawValue)\".")
            }
            if let token = node.driverInternalInfo[AgentKey.token]?.stringValue, let sent = request.agentToken,
                !Self.tokenMatches(token, sent)
            {
                throw IronicError.invalidParameterValue("Invalid or missing agent token received.")
            }
            let driver = try tasks.driver(for: task)
            if let error = request.pluginData["error"]?.stringValue, !error.isEmpty {
                try await finishRamdisk(task, driver: driver, powerOff: true)
                try await fail(task, message: "Inspection failed for node \(node.uuid): the ramdisk reported: \(error)")
                await recordHistory(task.node, .error, .introspection, task.node.lastError ?? "", context: request.context)
                return task.node
            }
            let processed = try InspectionData(inventory: request.inventory, pluginData: request.pluginData)
            try await store.saveInventory(nodeUUID: node.uuid, inventory: request.inventory, pluginData: .object(request.pluginData))
            task.updateNode { node in
                for (key, value) in processed.properties { node.properties[key] = value }
                node.inspectionFinishedAt = Date()
            }
            let created = try await addInspectedPorts(processed, task: task)
            try await finishRamdisk(task, driver: driver, powerOff: deployConfig.inspectorPowerOff)
            try await apply(.done, to: task)
            let summary = processed.properties.keys.sorted().map { "\($0)=\(processed.properties[$0]!.serialized())" }
            await recordHistory(
                task.node, .info, .introspection,
                "Inspection finished for node \(node.uuid): \(summary.joined(separator: ", "))\(created.isEmpty ? "" : "; ports created for \(created.joined(separator: ", "))").",
                context: request.context)
            return try await tasks.save(task)
        }
    }

    /// Creates ports for the inspected NICs `[inspector] add_ports` asks for; returns their MACs.
    private func addInspectedPorts(_ data: InspectionData, task: NodeTask) async throws -> [String] {
        let wanted: [String]
        switch deployConfig.inspectorAddPorts {
        case "all": wanted = data.interfaces.map(\.mac)
        case "active": wanted = data.interfaces.filter(\.hasAddress).map(\.mac)
        case "pxe": wanted = data.bootMAC.map { [$0] } ?? data.interfaces.filter(\.hasAddress).prefix(1).map(\.mac)
        default: wanted = []
        }
        var created: [String] = []
        for mac in wanted {
            if try await !store.ports(PortQuery(address: mac)).isEmpty { continue }
            var port = NodePort(address: mac, nodeUUID: task.node.uuid)
            port.pxeEnabled = mac == data.bootMAC || data.bootMAC == nil
            _ = try await store.createPort(port)
            created.append(mac)
        }
        return created
    }

    // MARK: Starting ramdisk work

    /// Boots the deploy ramdisk for `purpose`: boot files, boot device, power.
    func bootRamdisk(_ task: NodeTask, driver: ComposedDriver, purpose: RamdiskPurpose) async throws {
        task.setPorts(try await store.ports(PortQuery(nodeUUID: task.node.uuid)))
        task.updateNode { node in
            for key in AgentKey.perBoot { node.driverInternalInfo[key] = nil }
            node.driverInternalInfo[AgentKey.awaited] = .string(Self.awaitingHeartbeat)
        }
        let boot = try driver.require(.boot, as: (any BootInterface).self)
        try await boot.validate(task)
        try await boot.prepareRamdisk(task, purpose: purpose)
        if let management = driver.management {
            try await management.setBootDevice(boot.ramdiskBootDevice, persistent: false, on: task)
        }
        if let power = driver.power {
            if try await power.powerState(of: task) == .on {
                try await power.reboot(task, soft: false, timeout: nil)
            } else {
                try await power.setPowerState(.on, on: task, timeout: nil)
            }
            task.updateNode { $0.powerState = .on }
        }
        // The call-back timeout counts from the boot.
        task.updateNode { $0.provisionUpdatedAt = Date() }
    }

    /// Ends a ramdisk's work: its boot files go, its token and address are forgotten, and
    /// the node is powered off when asked.
    func finishRamdisk(_ task: NodeTask, driver: ComposedDriver, powerOff: Bool) async throws {
        if task.ports.isEmpty { task.setPorts(try await store.ports(PortQuery(nodeUUID: task.node.uuid))) }
        try await driver.boot?.cleanUpRamdisk(task)
        task.updateNode { node in
            for key in AgentKey.perBoot { node.driverInternalInfo[key] = nil }
        }
        if powerOff, let power = driver.power {
            try await power.setPowerState(.off, on: task, timeout: nil)
            task.updateNode { $0.powerState = .off }
        }
    }

    /// The deploy steps of a node: the interface's own, with the request's `deploy_steps`
    /// overriding priorities and arguments of steps of the same name and adding agent steps;
    /// priority 0 disables a step. Highest priority first.
    func deploySteps(_ task: NodeTask, deploy: any AgentDeployInterface) throws -> [ProvisionStep] {
        var steps = deploy.deploySteps(task)
        let requested = task.node.driverInternalInfo[AgentKey.userDeploySteps]?.arrayValue ?? []
        for value in requested {
            guard let object = value.objectValue, var step = ProvisionStep(json: object) else {
                throw IronicError.invalidParameterValue("Invalid deploy step \(value.serialized()): each step needs \"interface\" and \"step\".")
            }
            guard object["priority"]?.intValue != nil else {
                throw IronicError.invalidParameterValue("Invalid deploy step \(value.serialized()): \"priority\" is required.")
            }
            if let index = steps.firstIndex(where: { $0.interface == step.interface && $0.step == step.step }) {
                step.inAgent = steps[index].inAgent
                steps[index] = step
            } else {
                step.inAgent = true
                steps.append(step)
            }
        }
        return Self.ordered(steps.filter { $0.priority > 0 })
    }

    /// Highest priority first; ties keep their order.
    static func ordered(_ steps: [ProvisionStep]) -> [ProvisionStep] {
        steps.enumerated().sorted { ($0.element.priority, -$0.offset) > ($1.element.priority, -$1.offset) }.map(\.element)
    }

    /// Starts an agent deploy: the step list, then its first step (`deploy`: boot the ramdisk).
    func startAgentDeploy(_ task: NodeTask, driver: ComposedDriver, deploy: any AgentDeployInterface) async throws {
        let steps = try deploySteps(task, deploy: deploy)
        task.updateNode { node in
            node.driverInternalInfo[AgentKey.deploySteps] = .array(steps.map(\.storedJSON))
            node.driverInternalInfo[AgentKey.deployStepIndex] = nil
        }
        await runSteps(.deploy, from: 0, task: task, driver: driver, deploy: deploy)
    }

    /// Starts agent cleaning: boot the ramdisk; the steps are known once it answers.
    func startAgentCleaning(_ task: NodeTask, driver: ComposedDriver, manualSteps: [JSONValue]?) async throws {
        task.updateNode { node in
            node.driverInternalInfo[AgentKey.cleanSteps] = nil
            node.driverInternalInfo[AgentKey.cleanStepIndex] = nil
            node.driverInternalInfo[AgentKey.manualCleanSteps] = manualSteps.map(JSONValue.array)
            node.cleanStep = [:]
        }
        try await bootRamdisk(task, driver: driver, purpose: .clean)
        try await apply(.wait, to: task)
    }

    /// Starts agent inspection: boot the ramdisk, wait for its inventory.
    func startAgentInspection(_ task: NodeTask, driver: ComposedDriver) async throws {
        try await bootRamdisk(task, driver: driver, purpose: .inspect)
        try await apply(.wait, to: task)
    }

    /// Carries the steps of a node on once `awaited` ends outside the ramdisk's heartbeats:
    /// waits without a lock or a thread, then takes the node's lock (retrying while the
    /// worker that started the step still holds it) and moves on as a heartbeat would.
    func resumeWhenDone(_ awaited: String, nodeUUID: String, deploy: any AgentDeployInterface) {
        Task { [self] in
            await deploy.waitForAwaited(awaited, nodeUUID: nodeUUID)
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                do {
                    let task = try await tasks.acquire(nodeUUID, purpose: "resume after \(awaited)")
                    let current = task.node.driverInternalInfo[AgentKey.awaited]?.stringValue
                    guard current == awaited, let work = try? heartbeatWork(for: task) else {
                        await tasks.release(task, save: false)
                        return  // Moved on already (a heartbeat, an abort, a timeout).
                    }
                    try await spawnWorker(task, work)
                    return
                } catch let error as IronicError where error.code == "NodeLocked" {
                    try? await Task.sleep(for: .milliseconds(200))
                } catch {
                    logger.warning("could not resume node after \(awaited): \(error)", metadata: ["node": "\(nodeUUID)"])
                    return
                }
            }
            logger.warning("node stayed locked after \(awaited) ended; its next heartbeat carries it on", metadata: ["node": "\(nodeUUID)"])
        }
    }

    // MARK: Rescue

    /// Starts an agent rescue (Ironic's `AgentRescue.rescue`): the interface prepares the
    /// password, the instance's boot files go, the rescue ramdisk boots; `rescue wait`.
    func startAgentRescue(_ task: NodeTask, driver: ComposedDriver, rescue: any RescueInterface) async throws {
        _ = try await rescue.rescue(task)
        try await driver.boot?.cleanUpInstance(task)
        try await bootRamdisk(task, driver: driver, purpose: .rescue)
        try await apply(.wait, to: task)
    }

    /// The rescue ramdisk's first heartbeat: it gets the password, its boot files and token
    /// go, and the node is in `rescue` with the ramdisk running.
    func finishAgentRescue(_ task: NodeTask, driver: ComposedDriver, rescue: any RamdiskRescueInterface) async {
        do {
            try await apply(.resume, to: task)
            try await rescue.finalizeRescue(task)
            try await finishRamdisk(task, driver: driver, powerOff: false)
            try await apply(.done, to: task)
            await recordHistory(task.node, .info, .provisioning, "Node \(task.node.uuid) is in rescue: the rescue ramdisk runs with the rescue password set.")
        } catch {
            await failRescue(task, driver: driver, message: "Failed to rescue node \(task.node.uuid): \(Self.describe(error))")
        }
    }

    /// Unrescue through the agent (Ironic's `AgentRescue.unrescue`): off, the rescue boot
    /// files go, the instance boots from its disk again.
    func leaveAgentRescue(_ task: NodeTask, driver: ComposedDriver) async throws {
        try await finishRamdisk(task, driver: driver, powerOff: true)
        try await driver.boot?.prepareInstance(task)
        try await driver.management?.bootFromDisk(on: task)
        if let power = driver.power {
            try await power.setPowerState(.on, on: task, timeout: nil)
            task.updateNode { $0.powerState = .on }
        }
    }

    /// A rescue that failed (Ironic's `rescuing_error_handler`): power off, the ramdisk's boot
    /// files and the password go, `rescue failed` with the reason.
    func failRescue(_ task: NodeTask, driver: ComposedDriver, message: String) async {
        logger.error("\(message)", metadata: ["node": "\(task.node.uuid)"])
        do { try await finishRamdisk(task, driver: driver, powerOff: true) } catch {
            logger.warning("could not power off node after a failed rescue: \(error)", metadata: ["node": "\(task.node.uuid)"])
        }
        task.updateNode { node in
            node.instanceInfo["rescue_password"] = nil
            node.instanceInfo["hashed_rescue_password"] = nil
        }
        try? await fail(task, message: message)
        await recordHistory(task.node, .error, .provisioning, message)
    }

    // MARK: The step loop

    /// Deploy or clean.
    enum StepKind: String, Sendable {
        case deploy, clean

        var stepsKey: String { self == .deploy ? AgentKey.deploySteps : AgentKey.cleanSteps }
        var indexKey: String { self == .deploy ? AgentKey.deployStepIndex : AgentKey.cleanStepIndex }
        var historyType: NodeHistoryEvent.EventType { .provisioning }
    }

    /// The stored steps of `kind`.
    func storedSteps(_ kind: StepKind, _ node: Node) -> [ProvisionStep] {
        (node.driverInternalInfo[kind.stepsKey]?.arrayValue ?? []).compactMap { $0.objectValue.flatMap { ProvisionStep(json: $0) } }
    }

    /// A heartbeat in a wait state: finish the waiting step if the agent is done with it,
    /// then run the steps after it.
    func continueSteps(_ kind: StepKind, task: NodeTask, driver: ComposedDriver, deploy: any AgentDeployInterface) async {
        do {
            let awaited = task.node.driverInternalInfo[AgentKey.awaited]?.stringValue
            if kind == .clean, task.node.driverInternalInfo[AgentKey.cleanSteps] == nil {
                // The ramdisk of a cleaning answered for the first time: ask it for its steps.
                let steps = try await cleanSteps(task, driver: driver, deploy: deploy)
                task.updateNode { $0.driverInternalInfo[AgentKey.cleanSteps] = .array(steps.map(\.storedJSON)) }
                try await apply(.resume, to: task)
                await runSteps(.clean, from: 0, task: task, driver: driver, deploy: deploy)
                return
            }
            let index = task.node.driverInternalInfo[kind.indexKey]?.intValue ?? 0
            let steps = storedSteps(kind, task.node)
            guard index < steps.count else { return }
            if let awaited, awaited != Self.awaitingHeartbeat {
                guard let last = try await deploy.awaitedStatus(awaited, task: task) else {
                    let message =
                        deploy.endsWithoutHeartbeat(awaited)
                        ? "Conductor \(hostname) has no record of \(awaited) of step \(steps[index].qualifiedName) on node \(task.node.uuid): the conductor that ran it restarted or went offline, so its outcome is unknown."
                        : "The agent on node \(task.node.uuid) has no record of the command \(awaited) of step \(steps[index].qualifiedName): did the ramdisk restart?"
                    throw IronicError(status: 500, code: "AgentCommandLost", message: message)
                }
                switch last.status {
                case .running, .verifying: return
                case .failed:
                    throw StepFailure(message: last.error ?? "the agent reported a failure without a message")
                case .succeeded: break
                }
            }
            try await apply(.resume, to: task)
            await runSteps(kind, from: index + 1, task: task, driver: driver, deploy: deploy)
        } catch {
            await failSteps(kind, task: task, driver: driver, error: error)
        }
    }

    /// Runs steps from `start` until one waits for the agent or all are done.
    func runSteps(_ kind: StepKind, from start: Int, task: NodeTask, driver: ComposedDriver, deploy: any AgentDeployInterface) async {
        let steps = storedSteps(kind, task.node)
        var index = start
        do {
            while index < steps.count {
                let step = steps[index]
                task.updateNode { node in
                    node.driverInternalInfo[kind.indexKey] = .int(index)
                    node.driverInternalInfo[AgentKey.awaited] = nil
                    if kind == .deploy { node.deployStep = step.json } else { node.cleanStep = step.json }
                }
                try await tasks.save(task)
                let result = try await execute(step, kind: kind, task: task, driver: driver, deploy: deploy)
                if result == .wait {
                    try await apply(.wait, to: task)
                    if let awaited = task.node.driverInternalInfo[AgentKey.awaited]?.stringValue, deploy.endsWithoutHeartbeat(awaited) {
                        resumeWhenDone(awaited, nodeUUID: task.node.uuid, deploy: deploy)
                    }
                    return
                }
                index += 1
            }
            try await finishSteps(kind, task: task, driver: driver)
        } catch {
            await failSteps(kind, task: task, driver: driver, error: error)
        }
    }

    /// Runs one step; `.wait` with `agent_awaited` set when it continues in the agent.
    private func execute(_ step: ProvisionStep, kind: StepKind, task: NodeTask, driver: ComposedDriver,
                         deploy: any AgentDeployInterface) async throws -> DriverStepResult {
        switch kind {
        case .deploy:
            if step.interface == "deploy", step.step == "deploy", !step.inAgent {
                try await bootRamdisk(task, driver: driver, purpose: .deploy)
                return .wait
            }
            let result = try await deploy.executeDeployStep(step, task: task, driver: driver)
            // An interface that names what its step waits for sets `agent_awaited` itself;
            // otherwise it is the IPA command the step started.
            if result == .wait, task.node.driverInternalInfo[AgentKey.awaited] == nil {
                let command = step.inAgent ? "execute_deploy_step" : (step.step == "write_image" ? "prepare_image" : step.step)
                task.updateNode { $0.driverInternalInfo[AgentKey.awaited] = .string(command) }
            }
            return result
        case .clean:
            if step.inAgent {
                let awaited = try await deploy.startRamdiskCleanStep(step, task: task)
                task.updateNode { $0.driverInternalInfo[AgentKey.awaited] = .string(awaited) }
                return .wait
            }
            guard let kindValue = InterfaceKind(rawValue: step.interface), let provider = driver.interface(kindValue) as? any StepProvider,
                provider.stepNames.contains(step.step)
            else {
                throw IronicError.invalidParameterValue("No clean step named \"\(step.step)\" is offered by the \(step.interface) interface.")
            }
            try await provider.runStep(step.step, args: step.args, task: task)
            return .done
        }
    }

    /// The clean steps to run: the manual request's, or the agent's automated steps with the
    /// priorities configuration gives them.
    private func cleanSteps(_ task: NodeTask, driver: ComposedDriver, deploy: any AgentDeployInterface) async throws -> [ProvisionStep] {
        if task.ports.isEmpty { task.setPorts(try await store.ports(PortQuery(nodeUUID: task.node.uuid))) }
        let agentSteps = try await deploy.ramdiskCleanSteps(task)
        if let manual = task.node.driverInternalInfo[AgentKey.manualCleanSteps]?.arrayValue {
            return try manual.map { value in
                guard let object = value.objectValue, var step = ProvisionStep(json: object) else {
                    throw IronicError.invalidParameterValue("Invalid clean step \(value.serialized()).")
                }
                if let kind = InterfaceKind(rawValue: step.interface), let provider = driver.interface(kind) as? any StepProvider,
                    provider.stepNames.contains(step.step)
                {
                    return step
                }
                guard agentSteps.contains(where: { $0.step == step.step && $0.interface == step.interface }) else {
                    throw IronicError.invalidParameterValue(
                        "No clean step named \"\(step.step)\" is offered by the \(step.interface) interface or the node's ramdisk agent.")
                }
                step.inAgent = true
                return step
            }
        }
        let overrides = deploy.cleanStepPriorityOverrides()
        let automated = agentSteps.map { step -> ProvisionStep in
            var step = step
            if let priority = overrides[step.step] { step.priority = priority }
            return step
        }
        return Self.ordered(automated.filter { $0.priority > 0 })
    }

    /// Every step ran: tear the ramdisk down and finish the operation.
    private func finishSteps(_ kind: StepKind, task: NodeTask, driver: ComposedDriver) async throws {
        switch kind {
        case .deploy:
            try await finishRamdisk(task, driver: driver, powerOff: false)
            task.updateNode { node in
                node.deployStep = [:]
                node.driverInternalInfo[AgentKey.deployStepIndex] = nil
                node.driverInternalInfo[AgentKey.deploySteps] = nil
            }
            try await apply(.done, to: task)
            await recordHistory(task.node, .info, .provisioning, "Deployment of node \(task.node.uuid) finished; the instance boots from its disk.")
        case .clean:
            try await finishRamdisk(task, driver: driver, powerOff: true)
            let manual = task.node.driverInternalInfo[AgentKey.manualCleanSteps] != nil
            let ran = storedSteps(.clean, task.node).map(\.qualifiedName)
            task.updateNode { node in
                node.cleanStep = [:]
                node.driverInternalInfo[AgentKey.cleanStepIndex] = nil
                node.driverInternalInfo[AgentKey.cleanSteps] = nil
                node.driverInternalInfo[AgentKey.manualCleanSteps] = nil
            }
            try await apply(manual ? .manage : .done, to: task)
            await recordHistory(
                task.node, .info, .provisioning,
                "Cleaning of node \(task.node.uuid) finished (steps: \(ran.isEmpty ? "none" : ran.joined(separator: ", "))).")
        }
    }

    /// A step failed: record why, end the ramdisk's work and move the node to the failed state.
    func failSteps(_ kind: StepKind, task: NodeTask, driver: ComposedDriver, error: any Error) async {
        let step = ProvisionStep(json: kind == .deploy ? task.node.deployStep : task.node.cleanStep)
        let reason = (error as? StepFailure)?.message ?? Self.describe(error)
        let message: String
        switch kind {
        case .deploy:
            message = "Deploy step \(step?.qualifiedName ?? "deploy") failed on node \(task.node.uuid). \(reason)"
        case .clean:
            message = "Clean step \(step?.qualifiedName ?? "") failed on node \(task.node.uuid). \(reason)"
        }
        logger.error("\(message)", metadata: ["node": "\(task.node.uuid)"])
        if let deploy = driver.deploy as? any AgentDeployInterface {
            await RamdiskLogs.collect(task, agent: deploy.agent, settings: deployConfig, label: kind == .deploy ? "deploy" : "cleaning", failed: true)
        }
        do {
            try await finishRamdisk(task, driver: driver, powerOff: true)
        } catch {
            logger.warning("could not power off node after a failed step: \(error)", metadata: ["node": "\(task.node.uuid)"])
        }
        task.updateNode { node in
            node.driverInternalInfo[AgentKey.awaited] = nil
            if kind == .clean { node.cleanStep = [:] }
        }
        try? await fail(task, message: message)
        await recordHistory(task.node, .error, kind.historyType, message)
    }

    // MARK: Call-back timeouts

    /// Fails nodes whose ramdisk has not called back within its timeout (Ironic's
    /// `_check_deploy_timeouts`, `_check_cleanwait_timeouts`, `_check_inspect_wait_timeouts`).
    /// Only this conductor's nodes (by the hash ring) are checked; locked nodes are skipped.
    @discardableResult
    public func checkCallbackTimeouts(now: Date = Date()) async -> Int {
        let limits: [(ProvisionState, Duration, String)] = [
            (.deployWait, deployConfig.deployCallbackTimeout, "Timeout reached while waiting for callback for node %@"),
            (.cleanWait, deployConfig.cleanCallbackTimeout,
             "Timeout reached while cleaning the node %@. Please check if the ramdisk responsible for the cleaning is running on the node."),
            (.inspectWait, deployConfig.inspectWaitTimeout, "Timeout reached while inspecting the node %@: no inspection data from its ramdisk."),
            (.rescueWait, deployConfig.rescueCallbackTimeout, "Timeout reached while waiting for rescue ramdisk callback for node %@"),
        ]
        var failed = 0
        for (state, limit, template) in limits where limit > .zero {
            var query = NodeQuery()
            query.provisionState = state
            query.reserved = false
            guard let nodes = try? await store.nodes(query) else { continue }
            let seconds = Double(limit.components.seconds)
            for node in nodes where now.timeIntervalSince(node.provisionUpdatedAt ?? node.updatedAt ?? node.createdAt) > seconds {
                guard (try? await ring.owner(of: node)) == hostname else { continue }
                guard let task = try? await tasks.acquire(node.uuid, purpose: "call-back timeout") else { continue }
                guard task.node.provisionState == state else {
                    await tasks.release(task, save: false)
                    continue
                }
                let message = template.replacingOccurrences(of: "%@", with: node.uuid)
                if let driver = try? tasks.driver(for: task) {
                    do { try await finishRamdisk(task, driver: driver, powerOff: true) } catch {
                        logger.warning("could not power off timed-out node: \(error)", metadata: ["node": "\(node.uuid)"])
                    }
                }
                task.updateNode { node in
                    node.driverInternalInfo[AgentKey.awaited] = nil
                    if state == .cleanWait { node.cleanStep = [:] }
                    if state == .rescueWait {
                        node.instanceInfo["rescue_password"] = nil
                        node.instanceInfo["hashed_rescue_password"] = nil
                    }
                }
                try? await fail(task, message: message)
                await recordHistory(task.node, .error, state == .inspectWait ? .introspection : .provisioning, message)
                await tasks.release(task)
                failed += 1
            }
        }
        return failed
    }

    // MARK: Helpers

    /// A new agent token: 256 random bits, URL-safe base64.
    static func newAgentToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Compares tokens in time independent of where they differ.
    static func tokenMatches(_ expected: String?, _ given: String?) -> Bool {
        guard let expected, let given else { return false }
        let a = Array(expected.utf8), b = Array(given.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}

/// A step the agent reported as failed, with its message.
struct StepFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
