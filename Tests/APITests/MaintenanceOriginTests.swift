import Core
import Foundation
import IronicTesting
import Store
import Testing

/// The conductor ends only the maintenance it started itself (`fault = power failure`);
/// an operator's maintenance is never ended automatically.
@Suite("Maintenance origin")
struct MaintenanceOriginTests {
    /// Puts a node into maintenance as the power sync does after repeated BMC failures.
    private func conductorMaintenance(_ server: TestServer, _ name: String) async throws -> String {
        let node = try await server.createNode(["name": .string(name)])
        let uuid = node["uuid"]!.stringValue!
        var stored = try await server.server.store.node(uuid: uuid)
        stored.maintenance = true
        stored.maintenanceReason = "During sync_power_state, max retries exceeded"
        stored.fault = Fault.powerFailure.rawValue
        stored.powerState = nil
        _ = try await server.server.store.saveNode(stored)
        return uuid
    }

    @Test func recoveryClearsMaintenanceTheConductorSet() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        _ = try await conductorMaintenance(server, "faulty")
        let listed = try await server.request("GET", "/v1/nodes?fault=power%20failure").json()
        #expect(listed["nodes"]?.arrayValue?.count == 1)

        #expect(await server.server.conductor.recoverPowerFailures() == 1)
        let node = try await server.request("GET", "/v1/nodes/faulty").json()
        #expect(node["maintenance"] == false)
        #expect(node["fault"] == .null)
        #expect(node["maintenance_reason"] == .null)
        #expect(node["power_state"] == "power off", "the recovered BMC's state is recorded")
        let history = try await server.request("GET", "/v1/nodes/faulty/history?detail=true").json()
        #expect(history["history"]?.arrayValue?.contains { $0["event"]?.stringValue?.contains("recovered") == true } == true)
    }

    @Test func operatorMaintenanceIsNeverEndedByTheConductor() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        #expect(try await server.createNode(["name": "by-hand"])["maintenance"] == false)
        #expect(try await server.request("PUT", "/v1/nodes/by-hand/maintenance", json: ["reason": "RMA"]).status == 202)
        _ = try await conductorMaintenance(server, "taken-over")
        #expect(try await server.request("PUT", "/v1/nodes/taken-over/maintenance", json: ["reason": "checking cables"]).status == 202)

        #expect(await server.server.conductor.recoverPowerFailures() == 0)
        let byHand = try await server.request("GET", "/v1/nodes/by-hand").json()
        #expect(byHand["maintenance"] == true)
        #expect(byHand["maintenance_reason"] == "RMA")
        let takenOver = try await server.request("GET", "/v1/nodes/taken-over").json()
        #expect(takenOver["maintenance"] == true)
        #expect(takenOver["maintenance_reason"] == "checking cables")
        #expect(takenOver["fault"] == .null, "an operator's maintenance request takes the maintenance over")
        let history = try await server.request("GET", "/v1/nodes/taken-over/history?detail=true").json()
        #expect(history["history"]?.arrayValue?.contains { $0["event"]?.stringValue?.contains("taken over by an operator") == true } == true)
    }

    @Test func powerSyncSkipsMaintenanceAndLockedNodes() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        _ = try await server.createNode(["name": "sync-me"])
        _ = try await server.provision("sync-me", "manage")
        _ = try await server.request("PUT", "/v1/nodes/sync-me/maintenance", json: ["reason": "x"])
        let report = await server.server.conductor.syncPowerStates()
        #expect(report.checked == 0)
        #expect(report.skipped == 1)
        _ = try await server.request("DELETE", "/v1/nodes/sync-me/maintenance")
        let again = await server.server.conductor.syncPowerStates()
        #expect(again.checked == 1)
        #expect(again.failed == 0)
    }
}
