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
    ///
    /// Heartbeats run on a thread of their own (a task executor preference), so no amount of
    /// node work on the shared pool delays them; each success renews the conductor's right to
    /// take new work (`Liveness`).
    public func runHeartbeatsThenStop() async throws {
        let executor = DedicatedThreadExecutor(name: "ironic-heartbeat")
        defer { executor.stop() }
        await withTaskExecutorPreference(executor) {
            await withGracefulShutdownHandler {
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    do {
                        try await Task.sleep(for: heartbeatInterval)
                    } catch { break }
                    await heartbeat()
                }
            } onGracefulShutdown: {}
        }
        await stop()
    }

    /// Writes one heartbeat; re-registers when the row is gone (e.g. an operator deleted it).
    func heartbeat() async {
        do {
            try await conductor.store.heartbeatConductor(hostname: conductor.hostname)
            conductor.liveness.heartbeatWritten()
        } catch {
            conductor.logger.error("heartbeat failed: \(error)")
            do {
                try await conductor.store.registerConductor(record())
                conductor.liveness.heartbeatWritten()
            } catch {
                if !conductor.liveness.acceptsWork {
                    conductor.logger.critical("no heartbeat reached the database for too long: taking no new work")
                }
            }
        }
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

    /// Drains running work (up to `graceful_shutdown_timeout`), unregisters so other
    /// conductors take this one's nodes at once, and releases every lock; nodes whose work
    /// did not finish in time are moved to their failed state with a history entry.
    public func stop() async {
        let left = await conductor.workers.drain(timeout: gracefulShutdownTimeout)
        if left > 0 { conductor.logger.warning("stopping with \(left) actions still running") }
        try? await conductor.store.unregisterConductor(hostname: conductor.hostname)
        do {
            var query = NodeQuery()
            query.reservation = conductor.hostname
            let held = try await conductor.store.nodes(query)
            for node in held {
                try await conductor.repairStrandedNode(node, cause: .stopped)
            }
            if !held.isEmpty { conductor.logger.info("released \(held.count) node locks") }
        } catch {
            conductor.logger.error("could not release node locks: \(error)")
            _ = try? await conductor.store.releaseReservations(heldBy: conductor.hostname)
        }
        conductor.logger.info("conductor stopped", metadata: ["host": "\(conductor.hostname)"])
    }
}
