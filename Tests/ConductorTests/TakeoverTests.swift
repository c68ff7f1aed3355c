import Core
import Foundation
import HardwareTypes
import Logging
import SQLiteStore
import Store
import Testing

@testable import Conductor

/// Locks whose holder no conductor entry names (the entry was deleted, or the host came back
/// under another name): nobody's heartbeat will ever expire for them, so they would stay
/// forever. The node's owner takes them over once the holder has stayed unknown for a
/// heartbeat timeout, which is longer than a live conductor needs to register again.
@Suite("Take-over of locks held by unknown conductors")
struct TakeoverTests {
    struct Setup {
        let store: SQLiteStore
        let conductor: Conductor
        let service: ConductorService
        let node: Node

        /// Conductor `c1` (registered, heartbeating) and a deploying node locked by `holder`.
        init(holder: String, heartbeatTimeout: Duration) async throws {
            store = try SQLiteStore.inMemory()
            _ = try await store.upgrade()
            var config = IronicConfig()
            config.conductor.heartbeatInterval = .milliseconds(100)
            config.conductor.heartbeatTimeout = heartbeatTimeout
            let registry = try ShippedHardware.registry(config: DriverConfig(enabledHardwareTypes: ["fake-hardware"]))
            conductor = Conductor(hostname: "c1", store: store, registry: registry, config: config.conductor, logger: Logger(label: "takeover"))
            service = ConductorService(conductor: conductor, config: config.conductor)
            try await store.registerConductor(service.record())
            await service.heartbeat()
            var deploying = Node(driver: "fake-hardware")
            deploying.provisionState = .deploying
            deploying.targetProvisionState = .active
            let created = try await store.createNode(deploying)
            node = try await store.reserveNode(uuid: created.uuid, conductor: holder)
        }
    }

    /// Long enough that the conductors' heartbeats never expire during a test, however loaded
    /// the machine; the grace for unknown holders is crossed by backdating instead.
    static let heartbeatTimeout = Duration.seconds(60)

    @Test func aLockWhoseHolderStaysUnknownIsTakenOverAfterAHeartbeatTimeout() async throws {
        let setup = try await Setup(holder: "ghost", heartbeatTimeout: Self.heartbeatTimeout)
        #expect(await setup.conductor.takeOverOrphanedNodes() == 0, "an unknown holder first gets a heartbeat timeout")
        #expect(try await setup.store.node(uuid: setup.node.uuid).reservation == "ghost")

        setup.conductor.takeover.backdateUnknownHolders(by: Self.heartbeatTimeout / 2)
        #expect(await setup.conductor.takeOverOrphanedNodes() == 0, "not yet a full heartbeat timeout")
        setup.conductor.takeover.backdateUnknownHolders(by: Self.heartbeatTimeout / 2)
        #expect(await setup.conductor.takeOverOrphanedNodes() == 1)
        let repaired = try await setup.store.node(uuid: setup.node.uuid)
        #expect(repaired.reservation == nil)
        #expect(repaired.provisionState == .deployFailed)
        let history = try await setup.store.history(nodeUUID: setup.node.uuid, page: PageQuery())
        #expect(history.contains { $0.eventType == .takeover && $0.severity == .error && $0.event.contains("ghost") }, "\(history)")
    }

    @Test func aHolderThatRegistersAgainInTimeKeepsItsLock() async throws {
        let setup = try await Setup(holder: "c2", heartbeatTimeout: Self.heartbeatTimeout)
        #expect(await setup.conductor.takeOverOrphanedNodes() == 0)

        // c2 registers again (its entry had been deleted) and heartbeats: its lock is its own,
        // even once it would have stayed unknown for longer than a heartbeat timeout.
        try await setup.store.registerConductor(
            ConductorRecord(hostname: "c2", conductorGroup: "", online: true, hardwareTypes: setup.service.record().hardwareTypes))
        try await setup.store.heartbeatConductor(hostname: "c2")
        setup.conductor.takeover.backdateUnknownHolders(by: Self.heartbeatTimeout)
        #expect(await setup.conductor.takeOverOrphanedNodes() == 0)
        let node = try await setup.store.node(uuid: setup.node.uuid)
        #expect(node.reservation == "c2")
        #expect(node.provisionState == .deploying)
    }
}
