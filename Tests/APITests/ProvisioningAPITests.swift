import Core
import Foundation
import IronicTesting
import Store
import Testing

@Suite("Provisioning, power and node sub-resources")
struct ProvisioningAPITests {
    /// Ironic's schema for the object form of `configdrive` (1.56): a 400 before anything moves.
    @Test func malformedConfigDrivesAreRefused() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        _ = try await server.createNode(["name": "cd"])
        _ = try await server.provision("cd", "manage")
        _ = try await server.provision("cd", "provide")
        for configdrive: JSONValue in [["meta_data": "hostname=a"], ["network_data": ["eth0"]], ["userdata": "#cloud-config"], ["user_data": 5]] {
            let response = try await server.request(
                "PUT", "/v1/nodes/cd/states/provision", json: ["target": "active", "configdrive": configdrive], version: "1.56")
            #expect(response.status == 400, "\(configdrive): \(response.text)")
            #expect(try response.fault()["faultstring"]?.stringValue?.hasPrefix("Invalid configdrive: ") == true, "\(response.text)")
        }
        let node = try await server.request("GET", "/v1/nodes/cd").json()
        #expect(node["provision_state"] == "available")
        let fine = try await server.request(
            "PUT", "/v1/nodes/cd/states/provision",
            json: ["target": "active", "configdrive": ["meta_data": ["hostname": "a"], "user_data": "#cloud-config"]], version: "1.56")
        #expect(fine.status == 202, "\(fine.text)")
    }

    @Test func fullLifecycle() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        _ = try await server.createNode(["name": "life"])
        var node = try await server.provision("life", "manage")
        #expect(node["provision_state"] == "manageable")
        #expect(node["power_state"] == "power off")
        node = try await server.provision("life", "provide")
        #expect(node["provision_state"] == "available")
        node = try await server.provision("life", "active", extra: ["configdrive": "aGVsbG8="])
        #expect(node["provision_state"] == "active")
        #expect(node["power_state"] == "power on")
        #expect(node["instance_info"]?["configdrive"] == "******")

        let power = try await server.request("PUT", "/v1/nodes/life/states/power", json: ["target": "power off"])
        #expect(power.status == 202)
        #expect(power.headers["location"]?.hasSuffix("/v1/nodes/\(node["uuid"]!.stringValue!)/states") == true)
        node = try await server.waitForNode("life") { $0["target_power_state"] == .null && $0["power_state"] == "power off" }
        _ = try await server.request("PUT", "/v1/nodes/life/states/power", json: ["target": "rebooting"])
        node = try await server.waitForNode("life") { $0["target_power_state"] == .null && $0["power_state"] == "power on" }

        #expect(try await server.request("PUT", "/v1/nodes/life/maintenance", json: ["reason": "fan"]).status == 202)
        node = try await server.request("GET", "/v1/nodes/life").json()
        #expect(node["maintenance"] == true)
        #expect(node["maintenance_reason"] == "fan")
        #expect(try await server.request("DELETE", "/v1/nodes/life/maintenance").status == 202)
        node = try await server.request("GET", "/v1/nodes/life").json()
        #expect(node["maintenance"] == false)
        #expect(node["maintenance_reason"] == .null)

        node = try await server.provision("life", "deleted")
        #expect(node["provision_state"] == "available")
        #expect(node["power_state"] == "power off")
        #expect(node["instance_info"] == .object([:]))

        let history = try await server.request("GET", "/v1/nodes/life/history?detail=True").json()
        let events = history["history"]?.arrayValue ?? []
        #expect(events.count >= 8, "every provision transition is recorded")
        #expect(events.allSatisfy { $0["event_type"] == "transition" })
        let first = try #require(events.first?["uuid"]?.stringValue)
        let one = try await server.request("GET", "/v1/nodes/life/history/\(first)")
        #expect(one.status == 200)
        #expect(try one.json()["event"]?.stringValue?.contains("enroll") == true)

        _ = try await server.provision("life", "active")
        #expect(try await server.request("DELETE", "/v1/nodes/life").status == 409, "an active node cannot be deleted")
        _ = try await server.provision("life", "deleted")
        #expect(try await server.request("DELETE", "/v1/nodes/life").status == 204, "available nodes may be deleted by default")
    }

    @Test func forbiddenTransitionsAre400AndChangeNothing() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        _ = try await server.createNode(["name": "strict"])
        for target in ["provide", "active", "deleted", "rescue", "unrescue", "abort", "adopt"] {
            var body: [String: JSONValue] = ["target": .string(target)]
            if target == "rescue" { body["rescue_password"] = "pw" }
            let response = try await server.request("PUT", "/v1/nodes/strict/states/provision", json: .object(body))
            #expect(response.status == 400, "\(target) from enroll: \(response.text)")
        }
        let node = try await server.request("GET", "/v1/nodes/strict").json()
        #expect(node["provision_state"] == "enroll")
        #expect(node["reservation"] == .null)
        #expect(try await server.request("PUT", "/v1/nodes/strict/states/provision", json: ["target": "fly"]).status == 400)
        #expect(try await server.request("PUT", "/v1/nodes/strict/states/provision", json: ["target": "adopt"], version: "1.16").status == 406)
        #expect(try await server.request("PUT", "/v1/nodes/strict/states/provision", json: [:]).status == 400)
        #expect(try await server.request("PUT", "/v1/nodes/strict/states/power", json: ["target": "explode"]).status == 400)
        #expect(try await server.request("PUT", "/v1/nodes/strict/states/power", json: ["target": "soft power off"], version: "1.26").status == 406)
        #expect(try await server.request("PUT", "/v1/nodes/strict/states/power", json: ["target": "power on", "timeout": -1]).status == 400)
    }

    @Test func manualCleanInspectRescueAdopt() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        _ = try await server.createNode(["name": "multi"])
        _ = try await server.provision("multi", "manage")
        var node = try await server.provision("multi", "clean", extra: ["clean_steps": [["interface": "raid", "step": "delete_configuration"]]])
        #expect(node["provision_state"] == "manageable")
        let unknownStep = try await server.request(
            "PUT", "/v1/nodes/multi/states/provision", json: ["target": "clean", "clean_steps": [["interface": "deploy", "step": "erase_devices"]]])
        #expect(unknownStep.status == 400, "steps the interfaces do not offer are refused: \(unknownStep.text)")
        let noSteps = try await server.request("PUT", "/v1/nodes/multi/states/provision", json: ["target": "clean"])
        #expect(noSteps.status == 400)
        node = try await server.provision("multi", "inspect")
        #expect(node["provision_state"] == "manageable")
        #expect(node["inspection_finished_at"] != .null)
        node = try await server.provision("multi", "adopt")
        #expect(node["provision_state"] == "active")
        let noPassword = try await server.request("PUT", "/v1/nodes/multi/states/provision", json: ["target": "rescue"])
        #expect(noPassword.status == 400)
        node = try await server.provision("multi", "rescue", extra: ["rescue_password": "hunter2"])
        #expect(node["provision_state"] == "rescue")
        node = try await server.provision("multi", "unrescue")
        #expect(node["provision_state"] == "active")
    }

    @Test func protectedNodesRefuseUndeploy() async throws {
        let server = try await TestServer.start { $0.conductor.automatedClean = false }
        defer { Task { await server.stop() } }
        _ = try await server.createNode(["name": "prot"])
        for verb in ["manage", "provide", "active"] { _ = try await server.provision("prot", verb) }
        let set = try await server.request("PATCH", "/v1/nodes/prot", json: [
            ["op": "replace", "path": "/protected", "value": true],
            ["op": "replace", "path": "/protected_reason", "value": "prod db"],
        ])
        #expect(set.status == 200)
        let refused = try await server.request("PUT", "/v1/nodes/prot/states/provision", json: ["target": "deleted"])
        #expect(refused.status == 403)
        #expect(try await server.request("GET", "/v1/nodes/prot").json()["provision_state"] == "active")
    }

    @Test func bootDeviceConsoleValidateTraitsVIFs() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let node = try await server.createNode(["name": "mgmt"])
        let uuid = node["uuid"]!.stringValue!
        #expect(try await server.request("PUT", "/v1/nodes/mgmt/management/boot_device", json: ["boot_device": "pxe", "persistent": true]).status == 204)
        let device = try await server.request("GET", "/v1/nodes/mgmt/management/boot_device").json()
        #expect(device == ["boot_device": "pxe", "persistent": true])
        let supported = try await server.request("GET", "/v1/nodes/mgmt/management/boot_device/supported").json()
        #expect(supported["supported_boot_devices"]?.arrayValue?.contains("pxe") == true)
        #expect(try await server.request("PUT", "/v1/nodes/mgmt/management/boot_device", json: ["boot_device": "floppy-disk"]).status == 400)

        #expect(try await server.request("PUT", "/v1/nodes/mgmt/states/console", json: ["enabled": true]).status == 202)
        _ = try await server.waitForNode("mgmt") { $0["console_enabled"] == true && $0["reservation"] == .null }
        let console = try await server.request("GET", "/v1/nodes/mgmt/states/console").json()
        #expect(console["console_enabled"] == true)
        #expect(console["console_info"]?["type"] == "fake")
        #expect(try await server.request("PUT", "/v1/nodes/mgmt/states/console", json: ["enabled": "maybe"]).status == 400)

        let validation = try await server.request("GET", "/v1/nodes/mgmt/validate").json()
        #expect(validation["power"]?["result"] == true)
        #expect(validation["deploy"]?["result"] == true)

        #expect(try await server.request("PUT", "/v1/nodes/mgmt/traits", json: ["traits": ["CUSTOM_GPU", "HW_CPU_X86_VMX"]]).status == 204)
        #expect(try await server.request("PUT", "/v1/nodes/mgmt/traits/CUSTOM_FAST").status == 204)
        #expect(try await server.request("PUT", "/v1/nodes/mgmt/traits/lower-case").status == 400)
        var traits = try await server.request("GET", "/v1/nodes/mgmt/traits").json()
        #expect(traits["traits"] == ["CUSTOM_GPU", "HW_CPU_X86_VMX", "CUSTOM_FAST"])
        #expect(try await server.request("DELETE", "/v1/nodes/mgmt/traits/CUSTOM_GPU").status == 204)
        #expect(try await server.request("DELETE", "/v1/nodes/mgmt/traits/CUSTOM_GPU").status == 404)
        traits = try await server.request("GET", "/v1/nodes/mgmt/traits").json()
        #expect(traits["traits"] == ["HW_CPU_X86_VMX", "CUSTOM_FAST"])
        #expect(try await server.request("GET", "/v1/nodes/mgmt/traits", version: "1.36").status == 404)

        let noPort = try await server.request("POST", "/v1/nodes/mgmt/vifs", json: ["id": "vif-1"])
        #expect(noPort.status == 400, "no free port: \(noPort.text)")
        let port = try await server.request("POST", "/v1/ports", json: ["node_uuid": .string(uuid), "address": "52:54:00:12:34:56"])
        #expect(port.status == 201, "\(port.text)")
        #expect(try await server.request("POST", "/v1/nodes/mgmt/vifs", json: ["id": "vif-1"]).status == 204)
        let vifs = try await server.request("GET", "/v1/nodes/mgmt/vifs").json()
        #expect(vifs == ["vifs": [["id": "vif-1"]]])
        #expect(try await server.request("POST", "/v1/nodes/mgmt/vifs", json: ["id": "vif-1"]).status == 409)
        #expect(try await server.request("DELETE", "/v1/nodes/mgmt/vifs/vif-1").status == 204)
        #expect(try await server.request("DELETE", "/v1/nodes/mgmt/vifs/vif-1").status == 400)
    }

    @Test func lockedNodeAnswers409() async throws {
        let server = try await TestServer.start { $0.conductor.nodeLockedRetryAttempts = 1 }
        defer { Task { await server.stop() } }
        let node = try await server.createNode(["name": "busy"])
        let uuid = node["uuid"]!.stringValue!
        _ = try await server.server.store.reserveNode(uuid: uuid, conductor: "other-conductor")
        let patch = try await server.request("PATCH", "/v1/nodes/busy", json: [["op": "replace", "path": "/description", "value": "x"]])
        #expect(patch.status == 409)
        #expect(try patch.faultString().contains("locked by host other-conductor"))
        #expect(try await server.request("PUT", "/v1/nodes/busy/states/power", json: ["target": "power on"]).status == 409)
        #expect(try await server.request("PUT", "/v1/nodes/busy/states/provision", json: ["target": "manage"]).status == 409)
        #expect(try await server.request("DELETE", "/v1/nodes/busy").status == 409)
        try await server.server.store.releaseNode(uuid: uuid, conductor: "other-conductor")
        #expect(try await server.request("PATCH", "/v1/nodes/busy", json: [["op": "replace", "path": "/description", "value": "x"]]).status == 200)
    }

    @Test func concurrentPatchesNeverLoseAnUpdate() async throws {
        let server = try await TestServer.start { $0.conductor.nodeLockedRetryAttempts = 1 }
        defer { Task { await server.stop() } }
        _ = try await server.createNode(["name": "race"])
        let statuses = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for index in 0..<40 {
                group.addTask {
                    let response = try await server.request("PATCH", "/v1/nodes/race", json: [
                        ["op": "add", "path": .string("/extra/k\(index)"), "value": .int(index)]
                    ])
                    return (index, response.status)
                }
            }
            var results: [(Int, Int)] = []
            for try await result in group { results.append(result) }
            return results
        }
        #expect(statuses.allSatisfy { $0.1 == 200 || $0.1 == 409 })
        let extra = try await server.request("GET", "/v1/nodes/race").json()["extra"]!.objectValue!
        for (index, status) in statuses where status == 200 {
            #expect(extra["k\(index)"] == .int(index), "update \(index) answered 200 and must be kept")
        }
    }
}
