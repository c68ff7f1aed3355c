import Core
import Foundation
import Logging
import ServiceLifecycle
import Store

/// A conductor's life: register with its hardware types, recover what a previous run of the
/// same host left behind, heartbeat, and on shutdown drain work, release every lock and
/// unregister.
public struct ConductorService: Service {
    let conductor: Conductor
    let heartbeatInterval: Duration
    let gracefulShutdownTimeout: Duration
    let conductorGroup: String

    /// Creates the service for `conductor`.
    public init(conductor: Conductor, config: ConductorConfig) {
        self.conductor = conductor
        self.heartbeatInterval = config.heartbeatInterval
        self.gracefulShutdownTimeout = config.gracefulShutdownTimeout
        self.conductorGroup = config.conductorGroup
    }

    public func run() async throws {
        try await start()
        try await runHeartbeatsThenStop()
    }

    /// The part of `run` after `start`: heartbeat until shutdown, then `stop`.
    public func runHeartbeatsThenStop() async throws {
        // Heartbeats run in their own loop so slow node work never delays them.
        await withGracefulShutdownHandler {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                do {
                    try await Task.sleep(for: heartbeatInterval)
                } catch { break }
                do { try await conductor.store.heartbeatConductor(hostname: conductor.hostname) } catch {
                    conductor.logger.error("heartbeat failed: \(error)")
                    try? await conductor.store.registerConductor(record())
                }
            }
        } onGracefulShutdown: {}
        await stop()
    }

    func record() -> ConductorRecord {
        ConductorRecord(
            hostname: conductor.hostname, conductorGroup: conductorGroup, online: true,
            hardwareTypes: conductor.registry.orderedRegistrations)
    }

    /// Registers and recovers nodes this host left locked when it last died.
    public func start() async throws {
        try await conductor.recoverAfterRestart()
        try await conductor.store.registerConductor(record())
        conductor.logger.info(
            "conductor registered",
            metadata: ["host": "\(conductor.hostname)", "hardware_types": "\(conductor.registry.hardwareTypes.map(\.name))"])
    }

    /// Drains running work, releases locks, unregisters.
    public func stop() async {
        let left = await conductor.workers.drain(timeout: gracefulShutdownTimeout)
        if left > 0 { conductor.logger.warning("stopping with \(left) actions still running") }
        do {
            let released = try await conductor.store.releaseReservations(heldBy: conductor.hostname)
            if !released.isEmpty { conductor.logger.info("released \(released.count) node locks") }
        } catch {
            conductor.logger.error("could not release node locks: \(error)")
        }
        try? await conductor.store.unregisterConductor(hostname: conductor.hostname)
        conductor.logger.info("conductor stopped", metadata: ["host": "\(conductor.hostname)"])
    }
}

extension Conductor {
    /// After a crash, nodes still reserved by this host were mid-action: release them, move
    /// those in a transient state to the matching failed state, clear abandoned power targets,
    /// and record why in their history.
    func recoverAfterRestart() async throws {
        var query = NodeQuery()
        query.reservation = hostname
        let stranded = try await store.nodes(query)
        for node in stranded {
            var node = node
            var reasons: [String] = []
            if node.provisionState.isStuckTreatedAsFailure,
                let failed = machine.nextState(from: node.provisionState, on: .fail)
            {
                let message = "Conductor \(hostname) restarted while node was in state \"\(node.provisionState.rawValue)\"; moved to \"\(failed.rawValue)\"."
                node.provisionState = failed
                node.targetProvisionState = machine.targetState(of: failed)
                node.provisionUpdatedAt = Date()
                node.lastError = message
                reasons.append(message)
            }
            if node.targetPowerState != nil {
                let message = "Conductor \(hostname) restarted during a power change to \"\(node.targetPowerState!.rawValue)\"; the change may not have happened."
                node.targetPowerState = nil
                node.lastError = message
                reasons.append(message)
            }
            _ = try await store.saveNode(node)
            try await store.releaseNode(uuid: node.uuid, conductor: hostname)
            for reason in reasons {
                await recordHistory(node, .error, .startupFailure, reason)
            }
            logger.warning("recovered node left locked by a previous run", metadata: ["node": "\(node.uuid)"])
        }
    }
}
