import Conductor
import Core
import Foundation
import HardwareTypes
import IPMIHardware
import Lab
import Logging
import Server
import Store

/// The benchmark's side of the lab: a fresh SQLite store holding one `ipmi` node per lab
/// server, and a conductor over it for each worker count measured.
///
/// The nodes are written straight into the store (no API), `manageable`, with the power state
/// their BMC reports (off), so a sync pass only reads: one Get Chassis Status per node and no
/// database write.
struct SyncFleet: Sendable {
    /// The configuration every conductor starts from.
    let baseConfig: IronicConfig
    let store: any Store
    /// Node UUIDs in lab order.
    let nodeUUIDs: [String]

    /// Opens the store named by `config.database.connection`, migrates it, and creates a node
    /// for every lab server.
    static func create(config: IronicConfig, lab: Lab) async throws -> SyncFleet {
        let store = try ServiceFactory.makeStore(config)
        _ = try await store.upgrade()
        let registry = try ServiceFactory.makeRegistry(config)
        var uuids: [String] = []
        for server in lab.servers {
            var node = Node(driver: "ipmi")
            node.name = server.name
            node.driverInfo = lab.driverInfo(for: server).mapValues(JSONValue.string)
            try registry.resolveInterfaces(of: &node)
            node.provisionState = .manageable
            node.powerState = server.powerOn ? .on : .off
            uuids.append(try await store.createNode(node).uuid)
        }
        return SyncFleet(baseConfig: config, store: store, nodeUUIDs: uuids)
    }

    /// The configuration for a pass with `workers` nodes at once. `[ipmi] worker_threads` (the
    /// FreeIPMI thread pool, default 16) is raised to `workers` when lower: otherwise the pool,
    /// not the worker count, would set the concurrency.
    func config(workers: Int) -> IronicConfig {
        var config = baseConfig
        config.conductor.syncPowerStateWorkers = workers
        config.ipmi.workerThreads = max(config.ipmi.workerThreads, workers)
        return config
    }

    /// A conductor over the store, registered in the conductors table (the hash ring gives a
    /// conductor only the nodes it maps to a live entry) but with no periodic tasks, and with
    /// its own registry and so its own FreeIPMI client and thread pool.
    ///
    /// The registry is composed as `ServiceFactory.makeRegistry` composes it (one FreeIPMI client
    /// from `[ipmi]` shared by every ipmi interface), except that the client is created at once
    /// and wrapped in an `AnswerClock`.
    func conductor(workers: Int, logger: Logger) async throws -> SyncConductor {
        let config = config(workers: workers)
        let answers = AnswerClock(ShippedHardware.makeBMCClient(config.ipmi, logger: ServiceFactory.makeLogger("ironic.ipmi", config)))
        let interfaces = IPMIInterfaces(client: answers, settings: IPMIDriverSettings(ipmi: config.ipmi, conductor: config.conductor))
        let registry = try ShippedHardware.registry(config: config.drivers, ipmi: interfaces)
        let conductor = Conductor(
            hostname: config.host, store: store, registry: registry, config: config.conductor, logger: logger)
        try await ConductorService(conductor: conductor, config: config.conductor).start()
        return SyncConductor(workers: workers, ipmiThreads: config.ipmi.workerThreads, conductor: conductor, answers: answers)
    }
}

/// A conductor set up for one worker count.
struct SyncConductor: Sendable {
    /// `[conductor] sync_power_state_workers`.
    let workers: Int
    /// `[ipmi] worker_threads`.
    let ipmiThreads: Int
    let conductor: Conductor
    let answers: AnswerClock

    /// What one pass took.
    struct Pass: Sendable {
        /// The whole `syncPowerStates()` call.
        var seconds: Double
        /// From the start of the pass until the last BMC that answered did (nil if none did).
        var lastAnswerSeconds: Double?
        /// Get Chassis Status answers during the pass.
        var answers: Int
        var report: PowerSyncReport
    }

    /// One timed `syncPowerStates()` pass.
    func pass() async -> Pass {
        answers.reset()
        let clock = ContinuousClock()
        let start = clock.now
        let report = await conductor.syncPowerStates()
        let end = clock.now
        let (count, last) = answers.snapshot()
        return Pass(
            seconds: IPMIPowerRunner.seconds(start.duration(to: end)),
            lastAnswerSeconds: last.map { IPMIPowerRunner.seconds(start.duration(to: $0)) }, answers: count, report: report)
    }
}
