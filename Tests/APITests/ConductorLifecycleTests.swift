import Core
import Foundation
import IronicTesting
import SQLiteStore
import Store
import Testing

@Suite("Conductor lifecycle: crash recovery and graceful stop")
struct ConductorLifecycleTests {
    /// What a conductor killed mid-deploy leaves behind: the node locked by its host in a
    /// transient state. Restarting that host must release and fail the node, with a reason.
    @Test func restartAfterCrashFailsStrandedNodes() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ironic-crash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: directory.appendingPathComponent("ironic.sqlite").path)
        _ = try await store.upgrade()
        var deploying = Node(driver: "fake-hardware")
        deploying.name = "was-deploying"
        deploying.provisionState = .deploying
        deploying.targetProvisionState = .active
        deploying.interfaces = [.power: "fake", .management: "fake", .deploy: "fake", .boot: "fake"]
        _ = try await store.createNode(deploying)
        _ = try await store.reserveNode(uuid: deploying.uuid, conductor: "crashed-host")
        var powering = Node(driver: "fake-hardware")
        powering.name = "was-powering"
        powering.provisionState = .active
        powering.powerState = .off
        powering.targetPowerState = .on
        _ = try await store.createNode(powering)
        _ = try await store.reserveNode(uuid: powering.uuid, conductor: "crashed-host")
        var otherHost = Node(driver: "fake-hardware")
        otherHost.name = "other-host"
        otherHost.provisionState = .cleaning
        _ = try await store.createNode(otherHost)
        _ = try await store.reserveNode(uuid: otherHost.uuid, conductor: "someone-else")

        let server = try await TestServer.start(directory: directory) { $0.host = "crashed-host" }
        defer { Task { await server.stop() } }

        let failed = try await server.request("GET", "/v1/nodes/was-deploying").json()
        #expect(failed["provision_state"] == "deploy failed")
        #expect(failed["reservation"] == .null)
        #expect(failed["last_error"]?.stringValue?.contains("restarted") == true)
        let history = try await server.request("GET", "/v1/nodes/was-deploying/history?detail=true").json()
        #expect(history["history"]?.arrayValue?.contains { $0["event_type"] == "startup failure" && $0["severity"] == "ERROR" } == true)

        let power = try await server.request("GET", "/v1/nodes/was-powering").json()
        #expect(power["target_power_state"] == .null)
        #expect(power["reservation"] == .null)
        #expect(power["provision_state"] == "active")

        let untouched = try await server.request("GET", "/v1/nodes/other-host").json()
        #expect(untouched["reservation"] == "someone-else", "locks of other conductors are not ours to release")
        #expect(untouched["provision_state"] == "cleaning")

        // The recovered node is operable again.
        let retry = try await server.provision("was-deploying", "active")
        #expect(retry["provision_state"] == "active")
    }

    @Test func gracefulStopReleasesLocksAndGoesOffline() async throws {
        let server = try await TestServer.start()
        let node = try await server.createNode(["name": "held"])
        let uuid = node["uuid"]!.stringValue!
        let host = server.server.config.host
        _ = try await server.server.store.reserveNode(uuid: uuid, conductor: host)
        let conductors = try await server.request("GET", "/v1/conductors").json()
        #expect(conductors["conductors"]?.arrayValue?.first?["alive"] == true)

        await server.stop(keepDirectory: true)
        defer { try? FileManager.default.removeItem(at: server.directory) }
        let store = try SQLiteStore(path: server.directory.appendingPathComponent("ironic.sqlite").path)
        #expect(try await store.node(uuid: uuid).reservation == nil)
        #expect(try await store.conductor(hostname: host).online == false)
    }

    @Test func conductorShowsAliveWithItsDrivers() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let host = server.server.config.host
        let conductor = try await server.request("GET", "/v1/conductors/\(host)").json()
        #expect(conductor["hostname"]?.stringValue == host)
        #expect(conductor["alive"] == true)
        #expect(conductor["drivers"] == ["fake-hardware", "ipmi"])
        let drivers = try await server.request("GET", "/v1/drivers").json()
        #expect(drivers["drivers"]?.arrayValue?.allSatisfy { $0["hosts"] == .array([.string(host)]) } == true)
    }
}
