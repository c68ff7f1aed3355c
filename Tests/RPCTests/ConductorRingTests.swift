import Core
import Foundation
import SQLiteStore
import Store
import Testing

@testable import RPC

@Suite("Conductor ring")
struct ConductorRingTests {
    static func registration(_ types: [String]) -> [HardwareTypeRegistration] {
        types.map { HardwareTypeRegistration(hardwareType: $0, interfaces: [:]) }
    }

    static func store() async throws -> SQLiteStore {
        let store = try SQLiteStore.inMemory()
        _ = try await store.upgrade()
        return store
    }

    static func node(_ driver: String = "fake-hardware", group: String = "") -> Node {
        var node = Node(driver: driver)
        node.conductorGroup = group
        return node
    }

    @Test func onlyLiveConductorsOfTheNodesGroupAndDriverOwnNodes() async throws {
        let store = try await Self.store()
        try await store.registerConductor(.init(hostname: "a", hardwareTypes: Self.registration(["fake-hardware"])))
        try await store.registerConductor(.init(hostname: "b", hardwareTypes: Self.registration(["fake-hardware", "ipmi"])))
        try await store.registerConductor(.init(hostname: "rack2", conductorGroup: "rack2", hardwareTypes: Self.registration(["fake-hardware"])))
        try await store.registerConductor(.init(hostname: "stopped", hardwareTypes: Self.registration(["fake-hardware"])))
        try await store.unregisterConductor(hostname: "stopped")
        let ring = ConductorRing(store: store, heartbeatTimeout: .seconds(60))
        var owners: Set<String> = []
        for _ in 0..<200 { owners.insert(try await ring.requireOwner(of: Self.node())) }
        #expect(owners == ["a", "b"])
        #expect(try await ring.requireOwner(of: Self.node("ipmi")) == "b")
        #expect(try await ring.requireOwner(of: Self.node(group: "rack2")) == "rack2")
    }

    @Test func noConductorRegisteredIsNoValidHostButNoneAliveIsRetryable() async throws {
        let store = try await Self.store()
        try await store.registerConductor(.init(hostname: "gone", hardwareTypes: Self.registration(["ipmi"])))
        try await store.unregisterConductor(hostname: "gone")
        let ring = ConductorRing(store: store, heartbeatTimeout: .seconds(60))
        await #expect(throws: IronicError.noValidHost(Self.node("redfish"))) { try await ring.requireOwner(of: Self.node("redfish")) }
        do {
            _ = try await ring.requireOwner(of: Self.node("ipmi"))
            Issue.record("expected 503")
        } catch let error as IronicError {
            #expect(error.status == 503)
            #expect(error.message.contains("gone"))
        }
    }

    @Test func aLookupMissRebuildsTheRingAtOnce() async throws {
        let store = try await Self.store()
        let ring = ConductorRing(store: store, heartbeatTimeout: .seconds(60), config: .init())
        #expect(try await ring.owner(of: Self.node()) == nil)
        try await store.registerConductor(.init(hostname: "late", hardwareTypes: Self.registration(["fake-hardware"])))
        // The cached ring is fresh (15 s interval), but it has no owner: a miss rebuilds it.
        #expect(try await ring.owner(of: Self.node()) == "late")
    }

    @Test func aDeadConductorsNodesMoveOnceTheRingIsRebuilt() async throws {
        let store = try await Self.store()
        for host in ["a", "b", "c"] {
            try await store.registerConductor(.init(hostname: host, hardwareTypes: Self.registration(["fake-hardware"])))
        }
        let ring = ConductorRing(store: store, heartbeatTimeout: .seconds(60))
        let nodes = (0..<100).map { _ in Self.node() }
        var before: [String: String] = [:]
        for node in nodes { before[node.uuid] = try await ring.requireOwner(of: node) }
        try await store.unregisterConductor(hostname: "b")
        try await ring.refresh()
        for node in nodes {
            let owner = try await ring.requireOwner(of: node)
            #expect(owner != "b")
            if before[node.uuid] != "b" { #expect(owner == before[node.uuid], "only b's nodes move") }
        }
    }
}
