import Core
import Foundation
import HardwareTypes
import Logging
import SQLiteStore
import Store
import Testing

@testable import Conductor

/// A conductor whose heartbeat stops reaching the database takes no new work: other
/// conductors are about to take its nodes.
@Suite("Conductor liveness")
struct LivenessTests {
    @Test func noHeartbeatForTooLongRefusesNewLocksUntilTheNextOne() async throws {
        let store = try SQLiteStore.inMemory()
        _ = try await store.upgrade()
        var config = IronicConfig()
        config.conductor.heartbeatInterval = .milliseconds(100)
        // Long enough that no pause of a loaded machine crosses it; the test backdates instead.
        config.conductor.heartbeatTimeout = .seconds(60)
        config.conductor.nodeLockedRetryAttempts = 1
        let registry = try ShippedHardware.registry(config: DriverConfig(enabledHardwareTypes: ["fake-hardware"]))
        let conductor = Conductor(hostname: "c1", store: store, registry: registry, config: config.conductor, logger: Logger(label: "liveness"))
        let node = try await store.createNode(Node(driver: "fake-hardware"))

        let task = try await conductor.tasks.acquire(node.uuid, purpose: "test")
        await conductor.tasks.release(task)

        // No heartbeat is written: after heartbeat_timeout - heartbeat_interval the conductor
        // refuses new locks (well before the others would take the node).
        conductor.liveness.backdate(by: .seconds(30))
        #expect(conductor.liveness.acceptsWork, "heartbeat_timeout - heartbeat_interval has not passed yet")
        conductor.liveness.backdate(by: .seconds(30))
        #expect(!conductor.liveness.acceptsWork)
        do {
            _ = try await conductor.tasks.acquire(node.uuid, purpose: "test")
            Issue.record("a conductor without a recent heartbeat took a lock")
        } catch let error as IronicError {
            #expect(error.status == 503)
            #expect(error.message.contains("cannot write its heartbeat"))
        }
        #expect(try await store.node(uuid: node.uuid).reservation == nil)

        // The next successful heartbeat lets it work again.
        await ConductorService(conductor: conductor, config: config.conductor).heartbeat()
        #expect(conductor.liveness.acceptsWork)
        let again = try await conductor.tasks.acquire(node.uuid, purpose: "test")
        await conductor.tasks.release(again)
    }
}
