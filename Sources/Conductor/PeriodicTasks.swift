import Core
import Foundation
import Logging
import RPC
import ServiceLifecycle
import Store
import Synchronization

/// A conductor's periodic work: power-state sync, recovery of nodes it put in maintenance
/// for a power failure, reading BMC event logs into node history, and taking over the nodes
/// of conductors that died. Each runs in its own
/// loop at its own interval; an interval of zero switches it off.
public struct PeriodicTasksService: Service {
    let conductor: Conductor

    /// Creates the service for `conductor` (intervals come from its configuration).
    public init(conductor: Conductor) {
        self.conductor = conductor
    }

    public func run() async throws {
        let config = conductor.config
        try? await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                // A service that returns ends the whole service group: stay until shutdown
                // even when every task is switched off.
                group.addTask {
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                }
                Self.every(config.syncPowerStateInterval, in: &group) { _ = await conductor.syncPowerStates() }
                Self.every(config.powerFailureRecoveryInterval, in: &group) { _ = await conductor.recoverPowerFailures() }
                Self.every(config.hardwareEventPollInterval, in: &group) { _ = await conductor.pollHardwareEvents() }
                Self.every(conductor.deployConfig.checkProvisionStateInterval, in: &group) {
                    await conductor.checkCallbackTimeouts()
                }
                // Take-over checks follow the heartbeat: a dead conductor's nodes move within
                // one interval of it being declared dead.
                Self.every(config.heartbeatInterval, in: &group) {
                    await conductor.takeOverOrphanedNodes()
                    await conductor.takeOverDeployedNodes(interval: config.syncLocalStateInterval)
                }
            }
        }
    }

    private static func every(_ interval: Duration, in group: inout TaskGroup<Void>, _ work: @escaping @Sendable () async -> Void) {
        guard interval > .zero else { return }
        group.addTask {
            while !Task.isCancelled {
                do { try await Task.sleep(for: interval) } catch { return }
                await work()
            }
        }
    }
}

/// Consecutive power-sync failures per node, kept in memory as Ironic does: a conductor that
/// takes a node over starts counting afresh.
final class SyncFailureCounts: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    func value(_ uuid: String) -> Int { counts.withLock { $0[uuid] ?? 0 } }
    func set(_ uuid: String, _ value: Int) { counts.withLock { $0[uuid] = value == 0 ? nil : value } }
}

/// What one power-sync pass did, for logs, tests and benchmarks.
public struct PowerSyncReport: Sendable, Hashable {
    /// Nodes whose power state was read.
    public var checked = 0
    /// Nodes whose BMC did not answer.
    public var failed = 0
    /// Nodes skipped: locked, in maintenance, mid-action or in an excluded state.
    public var skipped = 0
    /// Nodes whose recorded or actual power state was changed.
    public var corrected = 0
    /// Nodes moved to maintenance with `fault = power failure`.
    public var movedToMaintenance = 0
}

extension Conductor {
    /// Provision states power sync leaves alone (Ironic's `SYNC_EXCLUDED_STATES`).
    static let syncExcludedStates: Set<ProvisionState> = [.deployWait, .cleanWait, .enroll, .adoptFailed]

    /// Nodes this conductor owns: those the hash ring maps to it (its conductor group, its
    /// hardware types, its share among the live conductors), narrowed by `query`.
    func managedNodes(_ query: NodeQuery = NodeQuery(), snapshot: ConductorRing.Snapshot? = nil) async throws -> [Node] {
        var query = query
        query.conductorGroup = config.conductorGroup
        let ring: ConductorRing.Snapshot
        if let snapshot { ring = snapshot } else { ring = try await self.ring.snapshot() }
        return try await store.nodes(query).filter { ring.owner(of: $0) == hostname }
    }

    /// One power-sync pass over the nodes this conductor serves, failing nodes first, at most
    /// `sync_power_state_workers` at once. A BMC that does not answer delays only its own node.
    @discardableResult
    public func syncPowerStates() async -> PowerSyncReport {
        var report = PowerSyncReport()
        let nodes: [Node]
        do { nodes = try await managedNodes() } catch {
            logger.error("power sync could not list nodes: \(error)")
            return report
        }
        let eligible = nodes.filter { node in
            node.reservation == nil && !node.maintenance && node.targetPowerState == nil
                && node.targetProvisionState == nil && !Self.syncExcludedStates.contains(node.provisionState)
        }
        report.skipped = nodes.count - eligible.count
        let ordered = eligible.sorted { syncFailures.value($0.uuid) > syncFailures.value($1.uuid) }
        let workers = max(1, config.syncPowerStateWorkers)
        await withTaskGroup(of: PowerSyncReport.self) { group in
            var iterator = ordered.makeIterator()
            for _ in 0..<workers {
                guard let node = iterator.next() else { break }
                group.addTask { await self.syncPowerState(node) }
            }
            while let result = await group.next() {
                report.checked += result.checked
                report.failed += result.failed
                report.skipped += result.skipped
                report.corrected += result.corrected
                report.movedToMaintenance += result.movedToMaintenance
                if let node = iterator.next() { group.addTask { await self.syncPowerState(node) } }
            }
        }
        return report
    }

    /// Syncs one node; see Ironic's `do_sync_power_state` for the rules this follows.
    private func syncPowerState(_ node: Node) async -> PowerSyncReport {
        var report = PowerSyncReport()
        let reader = NodeTask(node: node, conductor: hostname, isShared: true, logger: logger)
        guard let driver = try? registry.driver(for: node), let power = driver.power else {
            report.skipped = 1
            return report
        }
        if let policy = power as? any PowerPollingPolicy {
            guard policy.mayPollPower(node) else {
                await notePowerPollingSuspended(node)
                report.skipped = 1
                return report
            }
            notePowerPollingAllowed(node)
        }
        if node.powerState == nil {
            do { try await power.validate(reader) } catch {
                report.skipped = 1
                return report
            }
        }
        let count = syncFailures.value(node.uuid) + 1
        let actual: PowerState
        do {
            actual = try await power.powerState(of: reader)
            if actual == .error { throw IronicError.internalError("The power interface reported an error state.") }
        } catch {
            report.failed = 1
            syncFailures.set(node.uuid, count)
            if count > config.powerStateSyncMaxRetries {
                if await powerFailureMaintenance(node.uuid, actual: nil, error: error) { report.movedToMaintenance = 1 }
            } else {
                logger.warning(
                    "power sync could not get the power state, attempt \(count) of \(config.powerStateSyncMaxRetries): \(Self.describe(error))",
                    metadata: ["node": "\(node.uuid)"])
            }
            return report
        }
        report.checked = 1
        if node.powerState == actual {
            syncFailures.set(node.uuid, 0)
            return report
        }
        // The recorded state and the hardware disagree: take the lock and look again.
        guard let task = try? await store.reserveNode(uuid: node.uuid, conductor: hostname) else {
            report.skipped = 1
            return report
        }
        let locked = NodeTask(node: task, conductor: hostname, isShared: false, logger: logger)
        let fresh = locked.node
        if fresh.powerState == actual || fresh.maintenance || fresh.hasActionInFlight
            || Self.syncExcludedStates.contains(fresh.provisionState)
        {
            await tasks.release(locked, save: false)
            return report
        }
        if fresh.powerState == nil {
            locked.updateNode { $0.powerState = actual }
            syncFailures.set(node.uuid, 0)
            report.corrected = 1
            await tasks.release(locked)
            return report
        }
        if count > config.powerStateSyncMaxRetries {
            await tasks.release(locked, save: false)
            if await powerFailureMaintenance(node.uuid, actual: actual, error: nil) { report.movedToMaintenance = 1 }
            syncFailures.set(node.uuid, count)
            return report
        }
        let recorded = fresh.powerState!
        if config.forcePowerStateDuringSync {
            logger.warning(
                "power sync: node is \(actual.rawValue) but recorded \(recorded.rawValue); changing the hardware to \(recorded.rawValue)",
                metadata: ["node": "\(node.uuid)"])
            do {
                try await power.setPowerState(recorded, on: locked, timeout: nil)
            } catch {
                logger.warning("power sync could not restore the power state: \(Self.describe(error))", metadata: ["node": "\(node.uuid)"])
            }
            syncFailures.set(node.uuid, count)
        } else {
            locked.updateNode { $0.powerState = actual }
            await recordHistory(
                fresh, .warning, .monitoring,
                "Power state sync: node \(node.uuid) was \"\(actual.rawValue)\" while \"\(recorded.rawValue)\" was recorded; recorded the actual state.")
            syncFailures.set(node.uuid, 0)
        }
        report.corrected = 1
        await tasks.release(locked)
        return report
    }

    /// Puts a node whose BMC keeps failing into maintenance with `fault = power failure`,
    /// unless it is already in maintenance (an operator's maintenance is never overwritten).
    /// Returns whether it did.
    private func powerFailureMaintenance(_ uuid: String, actual: PowerState?, error: (any Error)?) async -> Bool {
        guard let reserved = try? await store.reserveNode(uuid: uuid, conductor: hostname) else { return false }
        let task = NodeTask(node: reserved, conductor: hostname, isShared: false, logger: logger)
        let node = task.node
        var message = "During sync_power_state, max retries exceeded for node \(uuid), node state \(actual?.rawValue ?? "None") does not match expected state '\(node.powerState?.rawValue ?? "None")'. Updating DB state to '\(actual?.rawValue ?? "None")' Switching node to maintenance mode."
        if let error { message += " Error: \(Self.describe(error))" }
        let moved = !node.maintenance
        task.updateNode { node in
            node.powerState = actual
            if moved {
                node.maintenance = true
                node.maintenanceReason = message
                node.fault = Fault.powerFailure.rawValue
            }
        }
        await recordHistory(node, .error, .monitoring, message)
        await tasks.release(task)
        logger.error("\(message)", metadata: ["node": "\(uuid)"])
        return moved
    }

    /// Tries every node this conductor put in maintenance for a power failure; when its BMC
    /// answers again, records the power state and ends the maintenance. Maintenance an operator
    /// set (no `fault`, or taken over with `PUT /maintenance`) is never touched.
    @discardableResult
    public func recoverPowerFailures() async -> Int {
        guard let nodes = try? await managedNodes() else { return 0 }
        var recovered = 0
        for node in nodes where node.maintenance && node.fault == Fault.powerFailure.rawValue && node.reservation == nil {
            guard let driver = try? registry.driver(for: node), let power = driver.power else { continue }
            let reader = NodeTask(node: node, conductor: hostname, isShared: true, logger: logger)
            guard let actual = try? await power.powerState(of: reader), actual != .error else { continue }
            guard let reserved = try? await store.reserveNode(uuid: node.uuid, conductor: hostname) else { continue }
            let task = NodeTask(node: reserved, conductor: hostname, isShared: false, logger: logger)
            guard task.node.maintenance, task.node.fault == Fault.powerFailure.rawValue else {
                await tasks.release(task, save: false)
                continue
            }
            task.updateNode { node in
                node.powerState = actual
                node.maintenance = false
                node.maintenanceReason = nil
                node.fault = nil
            }
            syncFailures.set(node.uuid, 0)
            await recordHistory(
                task.node, .info, .monitoring,
                "Power failure recovered: the BMC answers again (power state \"\(actual.rawValue)\"); maintenance set by the conductor was cleared.")
            await tasks.release(task)
            recovered += 1
        }
        return recovered
    }

    /// Reads new events from the BMC event log of every node whose management interface
    /// offers one, and records each in the node's history. Returns the number recorded.
    @discardableResult
    public func pollHardwareEvents() async -> Int {
        guard let nodes = try? await managedNodes() else { return 0 }
        var recorded = 0
        for node in nodes where node.reservation == nil {
            guard let driver = try? registry.driver(for: node),
                let log = driver.interface(.management) as? any HardwareEventLog, log.pollsEvents(for: node)
            else { continue }
            let cursor = node.driverInternalInfo["hardware_event_cursor"]?.stringValue
            let reader = NodeTask(node: node, conductor: hostname, isShared: true, logger: logger)
            guard let (events, next) = try? await log.events(of: reader, after: cursor) else { continue }
            guard !events.isEmpty || next != cursor else { continue }
            guard let reserved = try? await store.reserveNode(uuid: node.uuid, conductor: hostname) else { continue }
            let task = NodeTask(node: reserved, conductor: hostname, isShared: false, logger: logger)
            for event in events {
                await recordHistory(task.node, event.severity, .monitoring, event.message)
                recorded += 1
            }
            task.updateNode { $0.driverInternalInfo["hardware_event_cursor"] = next.map(JSONValue.string) ?? .null }
            await tasks.release(task)
        }
        return recorded
    }
}
