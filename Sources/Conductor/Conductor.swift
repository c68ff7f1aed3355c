import Core
import Foundation
import Logging
import Metrics
import RPC
import Store

/// A conductor: owns node locks, runs driver calls and moves nodes through the provision
/// state machine. It implements `ConductorAPI`, so the API can call it in-process or, through
/// an RPC transport, in another process.
public final class Conductor: ConductorAPI {
    /// This conductor's hostname (`[DEFAULT] host`): the value of `reservation` while it holds a lock.
    public let hostname: String
    let store: any Store
    let registry: DriverRegistry
    let config: ConductorConfig
    /// `[deploy]` and the other options of provisioning through a ramdisk agent.
    let deployConfig: DeployConfig
    let tasks: TaskManager
    let workers: WorkerPool
    let machine = ProvisionStateMachine.ironic
    let logger: Logger
    let syncFailures = SyncFailureCounts()
    let pollingSuspended = SuspendedPowerPolling()
    /// Which live conductor owns which node; periodic work touches only this conductor's share.
    public let ring: ConductorRing
    let liveness: Liveness
    let takeover = TakeoverState()

    /// Creates a conductor over `store` serving the hardware types in `registry`.
    public init(
        hostname: String, store: any Store, registry: DriverRegistry, config: ConductorConfig,
        hashRing: HashRingConfig = HashRingConfig(), deploy: DeployConfig = DeployConfig(), logger: Logger
    ) {
        self.hostname = hostname
        self.store = store
        self.registry = registry
        self.config = config
        self.deployConfig = deploy
        self.logger = logger
        self.ring = ConductorRing(store: store, heartbeatTimeout: config.heartbeatTimeout, config: hashRing)
        let liveness = Liveness(heartbeatInterval: config.heartbeatInterval, heartbeatTimeout: config.heartbeatTimeout)
        self.liveness = liveness
        self.tasks = TaskManager(
            store: store, registry: registry, hostname: hostname, retryAttempts: config.nodeLockedRetryAttempts,
            retryInterval: config.nodeLockedRetryInterval, liveness: liveness, logger: logger)
        self.workers = WorkerPool(capacity: config.workersPoolSize)
    }

    /// Runs `body` with the node exclusively locked; the node is saved and unlocked afterwards,
    /// whether `body` succeeds or throws.
    func withExclusiveLock<T: Sendable>(
        _ nodeUUID: String, purpose: String, _ body: (NodeTask) async throws -> T
    ) async throws -> T {
        let task = try await tasks.acquire(nodeUUID, purpose: purpose)
        do {
            let result = try await body(task)
            await tasks.release(task)
            return result
        } catch {
            // The failed change is discarded: nothing of it is saved.
            await tasks.release(task, save: false)
            throw error
        }
    }

    /// Hands a locked task to a worker; the worker releases the lock when `work` ends.
    /// If no worker is free the lock is released at once and 503 is thrown.
    func spawnWorker(_ task: NodeTask, _ work: @escaping @Sendable (NodeTask) async -> Void) async throws {
        let tasks = self.tasks
        do {
            try workers.start {
                await work(task)
                await tasks.release(task)
            }
        } catch {
            await tasks.release(task)
            throw error
        }
    }

    /// Appends an entry to the node's history; failures to write are logged, never thrown.
    func recordHistory(_ node: Node, _ severity: NodeHistoryEvent.Severity, _ type: NodeHistoryEvent.EventType,
                       _ event: String, context: RequestContext? = nil) async {
        let entry = NodeHistoryEvent(
            nodeUUID: node.uuid, severity: severity, eventType: type, event: event, conductor: hostname,
            user: context?.userID)
        do { try await store.recordHistory(entry) } catch {
            logger.error("could not record node history: \(error)", metadata: ["node": "\(node.uuid)"])
        }
    }

    // MARK: Nodes

    public func createNode(_ request: CreateNodeRequest) async throws -> Node {
        var node = request.node
        try registry.resolveInterfaces(of: &node)
        if let chassis = node.chassisUUID {
            do { _ = try await store.chassis(uuid: chassis) } catch let error as IronicError where error.status == 404 {
                throw IronicError.invalidParameterValue("Chassis \(chassis) could not be found.")
            }
        }
        node.reservation = nil
        let created = try await store.createNode(node)
        logger.info("node created", metadata: ["node": "\(created.uuid)", "driver": "\(created.driver)"])
        return created
    }

    public func updateNode(_ request: UpdateNodeRequest) async throws -> Node {
        try await withExclusiveLock(request.nodeUUID, purpose: "node update") { task in
            let before = task.node
            var (node, changed) = try before.applying(request.patch)
            if changed.contains("instance_uuid"), let existing = before.instanceUUID, node.instanceUUID != nil {
                throw IronicError.nodeAssociated(before.uuid, instance: existing)
            }
            let interfaceFields = Set(InterfaceKind.allCases.map(\.nodeField))
            if node.driver != before.driver || !changed.isDisjoint(with: interfaceFields) {
                try checkInterfacesMayChange(before)
                try registry.resolveInterfaces(of: &node, reset: request.resetInterfaces)
            }
            if node.chassisUUID != before.chassisUUID, let chassis = node.chassisUUID {
                do { _ = try await store.chassis(uuid: chassis) } catch let error as IronicError where error.status == 404 {
                    throw IronicError.invalidParameterValue("Chassis \(chassis) could not be found.")
                }
            }
            if node.maintenance != before.maintenance {
                node.maintenanceReason = node.maintenance ? node.maintenanceReason : nil
                if !node.maintenance { node.fault = nil }
            }
            if node.protected != before.protected || node.protectedReason != before.protectedReason {
                guard node.provisionState == .active || !node.protected else {
                    throw IronicError.invalidState("Node \(node.uuid) can only be made protected in provision state \"active\", not \"\(node.provisionState.rawValue)\".")
                }
                if !node.protected, node.protectedReason != nil, changed.contains("protected_reason") {
                    throw IronicError.invalidParameterValue("The protected_reason field can only be set when protected is True")
                }
                if !node.protected { node.protectedReason = nil }
            }
            if node.retired != before.retired, node.retired == false { node.retiredReason = nil }
            if !node.retired, changed.contains("retired_reason"), node.retiredReason != nil {
                throw IronicError.invalidParameterValue("The retired_reason field can only be set when retired is True")
            }
            task.updateNode { $0 = node.withReservation($0.reservation) }
            return try await tasks.save(task)
        }
    }

    /// Ironic allows interface changes only where no deployment depends on them.
    private func checkInterfacesMayChange(_ node: Node) throws(IronicError) {
        let allowed: Set<ProvisionState> = [.enroll, .manageable, .available, .inspecting, .inspectWait, .inspectFailed]
        guard allowed.contains(node.provisionState) || node.maintenance else {
            throw .invalidState(
                "The driver or interfaces of node \(node.uuid) cannot be changed in provision state \"\(node.provisionState.rawValue)\"; allowed states are enroll, manageable, available, inspecting, inspect wait, inspect failed (or any state in maintenance).")
        }
    }

    public func destroyNode(_ request: NodeRequest) async throws {
        let task = try await tasks.acquire(request.nodeUUID, purpose: "node deletion")
        do {
            let node = task.node
            if let instance = node.instanceUUID { throw IronicError.nodeAssociated(node.uuid, instance: instance) }
            if node.protected { throw IronicError.nodeProtected(node.uuid) }
            var allowed = ProvisionState.deleteAllowedStates
            if config.allowDeletingAvailableNodes { allowed.insert(.available) }
            guard allowed.contains(node.provisionState) || node.maintenance else {
                let valid = allowed.map(\.rawValue).sorted().joined(separator: ", ")
                throw IronicError.invalidState(
                    "Can not delete node \"\(node.uuid)\" while it is in provision state \"\(node.provisionState.rawValue)\". Valid provision states to perform deletion are: \"\(valid)\", or set the node into maintenance mode")
            }
            if node.consoleEnabled, let console = try tasks.driver(for: task).console {
                try? await console.stopConsole(task)
            }
            try await store.deleteNode(uuid: node.uuid)
            logger.info("node deleted", metadata: ["node": "\(node.uuid)"])
        } catch {
            await tasks.release(task, save: false)
            throw error
        }
    }

    /// Sets or clears maintenance for an operator. An operator's request takes the maintenance
    /// over: `fault` is cleared, so the conductor's recovery will never end it.
    public func setMaintenance(_ request: SetMaintenanceRequest) async throws -> Node {
        try await withExclusiveLock(request.nodeUUID, purpose: "maintenance change") { task in
            let previousFault = task.node.fault
            task.updateNode { node in
                node.maintenance = request.maintenance
                node.maintenanceReason = request.maintenance ? request.reason : nil
                node.fault = nil
            }
            if request.maintenance, let previousFault {
                await recordHistory(
                    task.node, .info, .monitoring,
                    "Maintenance taken over by an operator (reason: \(request.reason ?? "none")); fault \"\(previousFault)\" cleared, so the conductor will not end it.",
                    context: request.context)
            }
            return try await tasks.save(task)
        }
    }

    // MARK: Power

    public func changePowerState(_ request: ChangePowerStateRequest) async throws {
        Counter(label: "ironic_conductor_power_actions_total", dimensions: [("target", request.target.rawValue)]).increment()
        let task = try await tasks.acquire(request.nodeUUID, purpose: "changing node power state")
        let power: any PowerInterface
        do {
            let driver = try tasks.driver(for: task)
            power = try driver.require(.power, as: (any PowerInterface).self)
            guard power.supportedPowerStates(task).contains(request.target) else {
                throw IronicError.invalidParameterValue(
                    "The requested power state \(request.target.rawValue) is not supported by the power interface of node \(task.node.uuid).")
            }
            do { try await power.validate(task) } catch {
                if powerPollingSuspended(task.node) {
                    await notePowerActionRefused(task.node, target: request.target, context: request.context)
                }
                throw error
            }
            task.updateNode {
                $0.targetPowerState = request.target.settledState
                $0.lastError = nil
            }
            try await tasks.save(task)
        } catch {
            await tasks.release(task)
            throw error
        }
        let timeout = request.timeoutSeconds.map { Duration.seconds($0) }
        try await spawnWorker(task) { [self] task in
            await runPowerChange(task, power: power, target: request.target, timeout: timeout, context: request.context)
        }
    }

    private func runPowerChange(_ task: NodeTask, power: any PowerInterface, target: PowerState, timeout: Duration?,
                                context: RequestContext) async {
        do {
            switch target {
            case .rebooting: try await power.reboot(task, soft: false, timeout: timeout)
            case .softRebooting: try await power.reboot(task, soft: true, timeout: timeout)
            default: try await power.setPowerState(target, on: task, timeout: timeout)
            }
            task.updateNode {
                $0.powerState = target.settledState
                $0.targetPowerState = nil
            }
        } catch {
            let message = "Failed to change power state to '\(target.rawValue)' by '\(target.rawValue)': \(Self.describe(error))"
            task.updateNode {
                $0.targetPowerState = nil
                $0.lastError = message
            }
            await recordHistory(task.node, .error, .conductor, message, context: context)
        }
    }

    static func describe(_ error: any Error) -> String {
        (error as? IronicError)?.message ?? "\(error)"
    }

    // MARK: Console

    public func setConsoleMode(_ request: SetConsoleModeRequest) async throws {
        let task = try await tasks.acquire(request.nodeUUID, purpose: "setting console mode")
        let console: any ConsoleInterface
        do {
            console = try tasks.driver(for: task).require(.console, as: (any ConsoleInterface).self)
            try await console.validate(task)
        } catch {
            await tasks.release(task)
            throw error
        }
        try await spawnWorker(task) { [self] task in
            do {
                if request.enabled { try await console.startConsole(task) } else { try await console.stopConsole(task) }
                task.updateNode {
                    $0.consoleEnabled = request.enabled
                    $0.lastError = nil
                }
                if powerPollingSuspended(task.node) {
                    await notePowerPollingSuspended(task.node)
                } else {
                    notePowerPollingAllowed(task.node)
                }
            } catch {
                let message = "Failed to \(request.enabled ? "start" : "stop") console for node \(task.node.uuid): \(Self.describe(error))"
                task.updateNode { $0.lastError = message }
                await recordHistory(task.node, .error, .console, message, context: request.context)
            }
        }
    }

    public func consoleInformation(_ request: NodeRequest) async throws -> ConsoleInfo {
        let task = try await tasks.shared(request.nodeUUID)
        let console = try tasks.driver(for: task).require(.console, as: (any ConsoleInterface).self)
        guard task.node.consoleEnabled else {
            throw IronicError(status: 400, code: "NodeConsoleNotEnabled", message: "Console access is not enabled on node \(task.node.uuid)")
        }
        return try await console.consoleInfo(task)
    }

    // MARK: Management

    public func setBootDevice(_ request: SetBootDeviceRequest) async throws {
        try await withExclusiveLock(request.nodeUUID, purpose: "setting boot device") { task in
            let management = try tasks.driver(for: task).require(.management, as: (any ManagementInterface).self)
            try await management.validate(task)
            guard try await management.supportedBootDevices(task).contains(request.device) else {
                throw IronicError.invalidParameterValue("Invalid boot device \(request.device.rawValue) specified.")
            }
            try await management.setBootDevice(request.device, persistent: request.persistent, on: task)
        }
    }

    public func bootDevice(_ request: NodeRequest) async throws -> BootDeviceState {
        let task = try await tasks.shared(request.nodeUUID)
        let management = try tasks.driver(for: task).require(.management, as: (any ManagementInterface).self)
        return try await management.bootDevice(of: task)
    }

    public func supportedBootDevices(_ request: NodeRequest) async throws -> [BootDevice] {
        let task = try await tasks.shared(request.nodeUUID)
        let management = try tasks.driver(for: task).require(.management, as: (any ManagementInterface).self)
        return try await management.supportedBootDevices(task)
    }

    public func injectNMI(_ request: NodeRequest) async throws {
        try await withExclusiveLock(request.nodeUUID, purpose: "inject nmi") { task in
            let management = try tasks.driver(for: task).require(.management, as: (any ManagementInterface).self)
            try await management.validate(task)
            try await management.injectNMI(task)
        }
    }

    public func validateDriverInterfaces(_ request: NodeRequest) async throws -> [InterfaceKind: InterfaceValidation] {
        let task = try await tasks.shared(request.nodeUUID)
        return try await tasks.driver(for: task).validateAll(task)
    }

    // MARK: Traits

    public func setTraits(_ request: SetTraitsRequest) async throws {
        try await withExclusiveLock(request.nodeUUID, purpose: "set traits") { task in
            task.updateNode { node in
                if request.replace {
                    node.traits = Self.uniqued(request.traits)
                } else {
                    node.traits = Self.uniqued(node.traits + request.traits)
                }
            }
            guard task.node.traits.count <= 50 else {
                throw IronicError.invalidParameterValue("Could not modify traits for node \(task.node.uuid): would exceed the maximum of 50")
            }
        }
    }

    public func removeTraits(_ request: RemoveTraitsRequest) async throws {
        try await withExclusiveLock(request.nodeUUID, purpose: "remove traits") { task in
            if let trait = request.trait {
                guard task.node.traits.contains(trait) else { throw IronicError.traitNotFound(node: task.node.uuid, trait: trait) }
                task.updateNode { $0.traits.removeAll { $0 == trait } }
            } else {
                task.updateNode { $0.traits = [] }
            }
        }
    }

    static func uniqued(_ items: [String]) -> [String] {
        var seen = Set<String>()
        return items.filter { seen.insert($0).inserted }
    }

    // MARK: Vendor passthru

    public func vendorPassthru(_ request: VendorPassthruRequest) async throws -> VendorPassthruReply {
        try await withExclusiveLock(request.nodeUUID, purpose: "vendor passthru") { task in
            let vendor = try tasks.driver(for: task).require(.vendor, as: (any VendorInterface).self)
            guard let route = vendor.routes[request.method] else {
                throw IronicError.invalidParameterValue("No handler for method \(request.method)")
            }
            guard route.httpMethods.contains(request.httpMethod) else {
                throw IronicError.invalidParameterValue(
                    "The method \(request.method) does not support HTTP \(request.httpMethod)")
            }
            let body = try await vendor.call(request.method, httpMethod: request.httpMethod, body: request.body, task: task)
            return VendorPassthruReply(async: route.async, body: body)
        }
    }
}
