import Core
import Foundation
import Metrics
import RPC

extension Conductor {
    /// Moves the task's node along `event`; throws Ironic's `InvalidStateRequested` when the
    /// machine does not allow it. `target` overrides the machine's target (manual cleaning
    /// heads back to `manageable`).
    func apply(_ event: ProvisionEvent, to task: NodeTask, action: String? = nil,
               target: ProvisionState? = nil) async throws(IronicError) {
        let node = task.node
        guard let next = machine.nextState(from: node.provisionState, on: event) else {
            throw .invalidStateRequested(
                action: action ?? event.rawValue, node: node.uuid, state: node.provisionState.rawValue)
        }
        task.updateNode { node in
            node.provisionState = next
            if let target {
                node.targetProvisionState = target
            } else if let machineTarget = machine.targetState(of: next) {
                node.targetProvisionState = machineTarget
            } else if next.isStable {
                node.targetProvisionState = nil
            }
            if next.isStable { node.targetProvisionState = nil }
            node.provisionUpdatedAt = Date()
        }
        let severity: NodeHistoryEvent.Severity = next.isFailure ? .error : .info
        await recordHistory(
            task.node, severity, .transition,
            "Provision state changed from \"\(node.provisionState.rawValue)\" to \"\(next.rawValue)\" on event \"\(event.rawValue)\".")
    }

    public func doProvisioningAction(_ request: ProvisioningActionRequest) async throws {
        let verb = request.verb
        Counter(label: "ironic_conductor_provision_actions_total", dimensions: [("verb", verb.rawValue)]).increment()
        let task = try await tasks.acquire(request.nodeUUID, purpose: "provision action \(verb.rawValue)")
        let flow: ProvisioningFlow?
        do {
            flow = try await begin(verb, request: request, task: task)
            try await tasks.save(task)
        } catch {
            await tasks.release(task, save: false)
            throw error
        }
        guard let flow else {
            await tasks.release(task)
            return
        }
        let previous = task.node
        do {
            try await spawnWorker(task) { [self] task in
                await run(flow, task: task, context: request.context)
            }
        } catch {
            // No worker: put the node back where it was so it is not stuck mid-transition.
            var restored = previous
            restored.reservation = nil
            _ = try? await store.saveNode(restored)
            throw error
        }
    }

    /// The part of an action that runs under the API request: checks, the first transition,
    /// and what the worker should do next (nil when the action is complete already).
    private func begin(_ verb: ProvisionVerb, request: ProvisioningActionRequest, task: NodeTask) async throws -> ProvisioningFlow? {
        let node = task.node
        let driver = try tasks.driver(for: task)
        let action = verb.rawValue
        switch verb {
        case .manage:
            if node.provisionState == .enroll {
                try await apply(.manage, to: task, action: action)
                return .verify
            }
            try await apply(.manage, to: task, action: action)
            return nil
        case .provide:
            try await apply(.provide, to: task, action: action)
            return .clean(steps: nil)
        case .active, .deploy, .rebuild:
            if node.maintenance {
                throw IronicError(status: 400, code: "NodeInMaintenance", message: "The requested action \"\(action)\" could not be understood. Cannot \(action) node \(node.uuid) while it is in maintenance.")
            }
            if verb == .rebuild, node.protected { throw IronicError.nodeProtected(node.uuid) }
            try await driver.power?.validate(task)
            try await driver.deploy?.validate(task)
            try await apply(verb == .rebuild ? .rebuild : .deploy, to: task, action: action)
            task.updateNode { node in
                if let configdrive = request.configdrive { node.instanceInfo["configdrive"] = configdrive }
                node.lastError = nil
                if let steps = request.deploySteps { node.driverInternalInfo["user_deploy_steps"] = .array(steps) }
            }
            return .deploy
        case .deleted, .undeploy:
            if node.protected { throw IronicError.nodeProtected(node.uuid) }
            try await apply(.delete, to: task, action: action)
            task.updateNode { $0.lastError = nil }
            return .tearDown
        case .inspect:
            try await driver.interface(.inspect)?.validate(task)
            try await apply(.inspect, to: task, action: action)
            task.updateNode {
                $0.inspectionStartedAt = Date()
                $0.inspectionFinishedAt = nil
                $0.lastError = nil
            }
            return .inspect
        case .clean:
            guard let steps = request.cleanSteps else {
                throw IronicError.missingParameterValue("\"clean_steps\" is required when setting target provision state to clean")
            }
            try validateSteps(steps, driver: driver, kind: "clean")
            try await apply(.clean, to: task, action: action, target: .manageable)
            task.updateNode { $0.lastError = nil }
            return .clean(steps: steps)
        case .adopt:
            try await driver.power?.validate(task)
            try await driver.management?.validate(task)
            try await apply(.adopt, to: task, action: action)
            return .adopt
        case .rescue:
            guard let password = request.rescuePassword, !password.isEmpty else {
                throw IronicError.missingParameterValue("A non-empty \"rescue_password\" is required when setting target provision state to rescue")
            }
            let rescue = try driver.require(.rescue, as: (any RescueInterface).self)
            // The interface validates the password where it will live (Ironic sets it first too).
            task.updateNode { $0.instanceInfo["rescue_password"] = .string(password) }
            try await rescue.validate(task)
            try await apply(.rescue, to: task, action: action)
            task.updateNode { $0.lastError = nil }
            return .rescue
        case .unrescue:
            // As Ironic: only power is validated; the rescue password is gone by now.
            _ = try driver.require(.rescue, as: (any RescueInterface).self)
            try await driver.power?.validate(task)
            try await apply(.unrescue, to: task, action: action)
            return .unrescue
        case .abort:
            let from = node.provisionState
            try await apply(.abort, to: task, action: action)
            task.updateNode { $0.lastError = "Operation aborted by user in state \"\(from.rawValue)\"." }
            if from == .cleanWait || from == .cleanHold {
                task.updateNode { $0.cleanStep = [:] }
            }
            await recordHistory(task.node, .warning, .provisioning, "Aborted by user in state \"\(from.rawValue)\".", context: request.context)
            // A ramdisk waited on is told nothing; its boot files, DHCP entries and power go.
            return [.cleanWait, .inspectWait, .rescueWait].contains(from) ? .endRamdisk : nil
        case .unhold:
            try await apply(.unhold, to: task, action: action)
            return nil
        case .service:
            throw IronicError.invalidStateRequested(action: action, node: node.uuid, state: node.provisionState.rawValue)
        }
    }

    /// Rejects steps the node's interfaces do not offer (Ironic validates user steps the same way).
    private func validateSteps(_ steps: [JSONValue], driver: ComposedDriver, kind: String) throws(IronicError) {
        for step in steps {
            guard let object = step.objectValue, let interface = object["interface"]?.stringValue,
                let name = object["step"]?.stringValue, !name.isEmpty
            else {
                throw .invalidParameterValue("Invalid \(kind) step \(step.serialized()): each step needs \"interface\" and \"step\".")
            }
            if let args = object["args"], args.objectValue == nil {
                throw .invalidParameterValue("Invalid \(kind) step \(step.serialized()): \"args\" must be an object.")
            }
            guard let kindValue = InterfaceKind(rawValue: interface) else {
                throw .invalidParameterValue("Invalid \(kind) step \(step.serialized()): unknown interface \"\(interface)\".")
            }
            guard let provider = driver.interface(kindValue) as? any StepProvider, provider.stepNames.contains(name) else {
                // The ramdisk agent lists its own steps once it runs; they are checked then.
                if driver.deploy is any AgentDeployInterface { continue }
                throw .invalidParameterValue(
                    "No \(kind) step named \"\(name)\" is offered by the \(interface) interface of node's driver \(driver.hardwareType).")
            }
        }
    }

    /// Runs user-requested steps in order with the node locked.
    private func runSteps(_ steps: [JSONValue], driver: ComposedDriver, task: NodeTask) async throws {
        for step in steps {
            guard let object = step.objectValue, let interface = object["interface"]?.stringValue.flatMap(InterfaceKind.init),
                let name = object["step"]?.stringValue, let provider = driver.interface(interface) as? any StepProvider
            else { continue }
            task.updateNode { $0.cleanStep = object }
            try await provider.runStep(name, args: object["args"]?.objectValue ?? [:], task: task)
        }
    }

    /// The asynchronous remainder of an action, run by a worker with the node locked.
    private func run(_ flow: ProvisioningFlow, task: NodeTask, context: RequestContext) async {
        let started = ContinuousClock.now
        defer {
            Timer(label: "ironic_conductor_provision_flow_duration", dimensions: [("flow", flow.name)])
                .record(duration: ContinuousClock.now - started)
        }
        do {
            let driver = try tasks.driver(for: task)
            switch flow {
            case .verify:
                do {
                    let power = try driver.require(.power, as: (any PowerInterface).self)
                    try await power.validate(task)
                    try await driver.management?.validate(task)
                    let state = try await power.powerState(of: task)
                    task.updateNode { $0.powerState = state }
                    try await apply(.done, to: task)
                } catch {
                    try await fail(task, message: "Failed to verify node \(task.node.uuid): \(Self.describe(error))")
                    await recordHistory(task.node, .error, .verify, task.node.lastError ?? "", context: context)
                }
            case .clean(let steps):
                try await runCleaning(task, driver: driver, manualSteps: steps, context: context)
            case .deploy:
                if let agentDeploy = driver.deploy as? any AgentDeployInterface {
                    try await startAgentDeploy(task, driver: driver, deploy: agentDeploy)
                    return
                }
                do {
                    try await driver.boot?.prepareInstance(task)
                    let result = try await driver.require(.deploy, as: (any DeployInterface).self).deploy(task)
                    if result == .wait {
                        try await apply(.wait, to: task)
                    } else {
                        // The instance boots once deployed.
                        if let power = driver.power {
                            try await power.setPowerState(.on, on: task, timeout: nil)
                            task.updateNode { $0.powerState = .on }
                        }
                        task.updateNode { $0.deployStep = [:] }
                        try await apply(.done, to: task)
                    }
                } catch {
                    try await fail(task, message: "Deploy failed for node \(task.node.uuid): \(Self.describe(error))")
                    await recordHistory(task.node, .error, .provisioning, task.node.lastError ?? "", context: context)
                }
            case .tearDown:
                do {
                    try await driver.require(.deploy, as: (any DeployInterface).self).tearDown(task)
                    if let power = driver.power {
                        try await power.setPowerState(.off, on: task, timeout: nil)
                        task.updateNode { $0.powerState = .off }
                    }
                    try await driver.boot?.cleanUpInstance(task)
                    task.updateNode { node in
                        node.instanceInfo = [:]
                        node.instanceUUID = nil
                        node.driverInternalInfo["user_deploy_steps"] = nil
                    }
                    try await apply(.clean, to: task)
                    try await runCleaning(task, driver: driver, manualSteps: nil, context: context)
                } catch let error as IronicError where error.code == "InvalidStateRequested" {
                    throw error
                } catch {
                    try await fail(task, message: "Error while tearing down node \(task.node.uuid): \(Self.describe(error))")
                    await recordHistory(task.node, .error, .unprovision, task.node.lastError ?? "", context: context)
                }
            case .inspect:
                do {
                    let inspect = try driver.require(.inspect, as: (any InspectInterface).self)
                    if inspect is any RamdiskInspectInterface {
                        try await startAgentInspection(task, driver: driver)
                        return
                    }
                    let result = try await inspect.inspectHardware(task)
                    if result == .wait {
                        try await apply(.wait, to: task)
                    } else {
                        task.updateNode { $0.inspectionFinishedAt = Date() }
                        try await apply(.done, to: task)
                    }
                } catch {
                    try await fail(task, message: "Failed to inspect hardware. Reason: \(Self.describe(error))")
                    await recordHistory(task.node, .error, .introspection, task.node.lastError ?? "", context: context)
                }
            case .adopt:
                do {
                    try await driver.deploy?.validate(task)
                    if let power = driver.power {
                        let state = try await power.powerState(of: task)
                        task.updateNode { $0.powerState = state }
                    }
                    try await apply(.done, to: task)
                } catch {
                    try await fail(task, message: "Error while attempting to adopt node \(task.node.uuid): \(Self.describe(error))")
                    await recordHistory(task.node, .error, .adoption, task.node.lastError ?? "", context: context)
                }
            case .endRamdisk:
                do {
                    try await finishRamdisk(task, driver: driver, powerOff: true)
                } catch {
                    let message = "Aborted, but the ramdisk of node \(task.node.uuid) could not be shut down: \(Self.describe(error))"
                    task.updateNode { $0.lastError = message }
                    await recordHistory(task.node, .error, .provisioning, message, context: context)
                }
                task.updateNode { node in
                    node.driverInternalInfo[AgentKey.awaited] = nil
                    node.instanceInfo["rescue_password"] = nil
                    node.instanceInfo["hashed_rescue_password"] = nil
                }
            case .rescue:
                do {
                    let rescue = try driver.require(.rescue, as: (any RescueInterface).self)
                    if rescue is any RamdiskRescueInterface {
                        try await startAgentRescue(task, driver: driver, rescue: rescue)
                        return
                    }
                    let result = try await rescue.rescue(task)
                    try await apply(result == .wait ? .wait : .done, to: task)
                } catch {
                    await failRescue(task, driver: driver, message: "Failed to rescue node \(task.node.uuid): \(Self.describe(error))")
                }
            case .unrescue:
                do {
                    let rescue = try driver.require(.rescue, as: (any RescueInterface).self)
                    if rescue is any RamdiskRescueInterface {
                        try await leaveAgentRescue(task, driver: driver)
                    }
                    try await rescue.unrescue(task)
                    task.updateNode { $0.instanceInfo["rescue_password"] = nil }
                    try await apply(.done, to: task)
                } catch {
                    try await fail(task, message: "Failed to unrescue node \(task.node.uuid): \(Self.describe(error))")
                    await recordHistory(task.node, .error, .provisioning, task.node.lastError ?? "", context: context)
                }
            }
        } catch {
            // A transition the machine refused mid-flow means our flow is wrong for this state:
            // record it rather than leave the node silently stuck.
            let message = "Internal error in provisioning flow for node \(task.node.uuid): \(Self.describe(error))"
            logger.error("\(message)")
            task.updateNode { $0.lastError = message }
            try? await fail(task, message: message)
            await recordHistory(task.node, .error, .provisioning, message, context: context)
        }
    }

    /// Cleaning: automated (on provide and after tear-down, unless disabled) or manual with steps.
    private func runCleaning(_ task: NodeTask, driver: ComposedDriver, manualSteps: [JSONValue]?,
                             context: RequestContext) async throws {
        let manual = manualSteps != nil
        let automated = task.node.automatedClean ?? config.automatedClean
        do {
            if (manual || automated), driver.deploy is any AgentDeployInterface {
                try await startAgentCleaning(task, driver: driver, manualSteps: manualSteps)
                return
            }
            if manual || automated {
                if let power = driver.power {
                    try await power.setPowerState(.off, on: task, timeout: nil)
                    task.updateNode { $0.powerState = .off }
                }
                try await runSteps(manualSteps ?? [], driver: driver, task: task)
            }
            task.updateNode { $0.cleanStep = [:] }
            try await apply(manual ? .manage : .done, to: task)
        } catch let error as IronicError where error.code == "InvalidStateRequested" {
            throw error
        } catch {
            try await fail(task, message: "Failed to clean node \(task.node.uuid): \(Self.describe(error))")
            await recordHistory(task.node, .error, .provisioning, task.node.lastError ?? "", context: context)
        }
    }

    /// Moves the node along `fail` and records why.
    func fail(_ task: NodeTask, message: String) async throws(IronicError) {
        task.updateNode { $0.lastError = message }
        if machine.nextState(from: task.node.provisionState, on: .fail) != nil {
            try await apply(.fail, to: task)
        }
    }
}

/// What a worker does after an action's first transition.
enum ProvisioningFlow: Sendable {
    /// A short name for metrics.
    var name: String {
        switch self {
        case .verify: "verify"
        case .clean: "clean"
        case .deploy: "deploy"
        case .tearDown: "tear_down"
        case .inspect: "inspect"
        case .adopt: "adopt"
        case .rescue: "rescue"
        case .unrescue: "unrescue"
        case .endRamdisk: "end_ramdisk"
        }
    }

    case verify
    case clean(steps: [JSONValue]?)
    case deploy
    case tearDown
    case inspect
    case adopt
    case rescue
    case unrescue
    /// After an abort in a ramdisk's wait state: end the ramdisk's work, power off.
    case endRamdisk
}
