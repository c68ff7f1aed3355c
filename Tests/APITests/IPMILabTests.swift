import Core
import Foundation
import IronicTesting
import Lab
import Testing

/// The `ipmi` hardware type end to end: the real API and conductor driving OpenIPMI
/// `ipmi_sim` BMCs that the test starts on loopback.
@Suite("ipmi hardware type against simulated BMCs", .serialized)
struct IPMILabTests {
    static func startServer() async throws -> TestServer {
        try await TestServer.start { config in
            config.drivers.enabledHardwareTypes = ["fake-hardware", "ipmi"]
            config.ipmi.minCommandInterval = .milliseconds(20)
            config.ipmi.sessionTimeout = .seconds(1)
            config.ipmi.commandRetryTimeout = .seconds(2)
            config.conductor.syncPowerStateInterval = .zero
            config.conductor.powerFailureRecoveryInterval = .zero
            config.conductor.hardwareEventPollInterval = .zero
            config.conductor.powerStateSyncMaxRetries = 1
            config.conductor.automatedClean = false
        }
    }

    /// Runs `body` with a lab of `count` servers and a server configured for them; both are
    /// stopped (awaited) whatever `body` does.
    static func withLab(_ count: Int, _ body: (Lab, TestServer) async throws -> Void) async throws {
        try await Lab.withTemporaryLab(count: count) { lab in
            let server = try await startServer()
            do {
                try await body(lab, server)
            } catch {
                await server.stop()
                throw error
            }
            await server.stop()
        }
    }

    static func enroll(_ server: TestServer, _ lab: Lab, _ index: Int, name: String, password: String? = nil) async throws -> JSONValue {
        var info = lab.driverInfo(for: lab.servers[index]).mapValues(JSONValue.string)
        if let password { info["ipmi_password"] = .string(password) }
        return try await server.createNode(["name": .string(name), "driver": "ipmi", "driver_info": .object(info)])
    }

    @Test func powerAndBootDeviceReachTheBMC() async throws {
        try await Self.withLab(1) { lab, server in
            let bmc = lab.servers[0]
            let node = try await Self.enroll(server, lab, 0, name: "ipmi-0")
            #expect(node["power_interface"] == "ipmi")
            #expect(node["management_interface"] == "ipmi")
            #expect(node["driver_info"]?["ipmi_password"] == "******")

            let managed = try await server.provision("ipmi-0", "manage")
            #expect(managed["provision_state"] == "manageable", "\(managed)")
            #expect(managed["power_state"] == (bmc.powerOn ? "power on" : "power off"))

            #expect(try await server.request("PUT", "/v1/nodes/ipmi-0/states/power", json: ["target": "power on"]).status == 202)
            _ = try await server.waitForNode("ipmi-0", timeout: .seconds(20)) { $0["target_power_state"] == .null }
            #expect(bmc.powerOn)
            #expect(try await server.request("GET", "/v1/nodes/ipmi-0").json()["power_state"] == "power on")

            #expect(try await server.request("PUT", "/v1/nodes/ipmi-0/states/power", json: ["target": "power off"]).status == 202)
            _ = try await server.waitForNode("ipmi-0", timeout: .seconds(20)) { $0["target_power_state"] == .null }
            #expect(!bmc.powerOn)

            #expect(try await server.request("PUT", "/v1/nodes/ipmi-0/states/power", json: ["target": "rebooting"]).status == 202)
            let rebooted = try await server.waitForNode("ipmi-0", timeout: .seconds(20)) { $0["target_power_state"] == .null }
            #expect(rebooted["power_state"] == "power on")
            #expect(bmc.powerOn)

            let set = try await server.request("PUT", "/v1/nodes/ipmi-0/management/boot_device", json: ["boot_device": "pxe", "persistent": false])
            #expect(set.status == 204, "\(set.text)")
            #expect(bmc.bootDevice == "pxe")
            let device = try await server.request("GET", "/v1/nodes/ipmi-0/management/boot_device").json()
            #expect(device["boot_device"] == "pxe")

            let validation = try await server.request("GET", "/v1/nodes/ipmi-0/validate").json()
            #expect(validation["power"]?["result"] == true)
            #expect(validation["management"]?["result"] == true)

            // ipmi_sim answers BMC Reset with completion code 0xC1 (invalid command): the request
            // must reach the BMC and come back as Ironic's IPMIFailure naming that answer.
            let reset = try await server.request("POST", "/v1/nodes/ipmi-0/vendor_passthru?method=bmc_reset", json: ["warm": true])
            if reset.status >= 400 {
                let fault = try reset.faultString().lowercased()
                #expect(fault.contains("0xc1") || fault.contains("invalid command"), "\(reset.text)")
            }
            #expect(try await server.request("GET", "/v1/nodes/ipmi-0/management/boot_device").status == 200, "the BMC still answers")
        }
    }

    @Test func badCredentialsAndAddressesGiveClearErrors() async throws {
        try await Self.withLab(1) { lab, server in
            _ = try await Self.enroll(server, lab, 0, name: "wrong-password", password: "not-the-password")
            let failed = try await server.provision("wrong-password", "manage")
            #expect(failed["provision_state"] == "enroll")
            #expect(failed["last_error"]?.stringValue?.isEmpty == false)

            // Nothing answers on this port: the BMC is unreachable.
            var unreachable = lab.driverInfo(for: lab.servers[0]).mapValues(JSONValue.string)
            unreachable["ipmi_port"] = "9"
            _ = try await server.createNode(["name": "unreachable", "driver": "ipmi", "driver_info": .object(unreachable)])
            let silent = try await server.provision("unreachable", "manage")
            #expect(silent["provision_state"] == "enroll")
            #expect(silent["last_error"]?.stringValue?.contains("127.0.0.1:9") == true, "\(silent["last_error"] ?? .null)")

            let missing = try await server.request("POST", "/v1/nodes", json: ["driver": "ipmi", "name": "no-address"])
            #expect(missing.status == 201)
            let validation = try await server.request("GET", "/v1/nodes/no-address/validate").json()
            #expect(validation["power"]?["result"] == false)
            #expect(validation["power"]?["reason"]?.stringValue?.contains("ipmi_address") == true)

            let badPort = try await server.request(
                "POST", "/v1/nodes", json: ["driver": "ipmi", "name": "bad-port", "driver_info": ["ipmi_address": "127.0.0.1", "ipmi_port": "not-a-port"]])
            #expect(badPort.status == 201)
            let portValidation = try await server.request("GET", "/v1/nodes/bad-port/validate").json()
            #expect(portValidation["power"]?["result"] == false)
        }
    }

    @Test func frozenBMCGoesToMaintenanceAndRecovers() async throws {
        try await Self.withLab(2) { lab, server in
            _ = try await Self.enroll(server, lab, 0, name: "frozen")
            _ = try await Self.enroll(server, lab, 1, name: "operator-held")
            _ = try await server.provision("frozen", "manage")
            _ = try await server.provision("operator-held", "manage")
            #expect(try await server.request("PUT", "/v1/nodes/operator-held/maintenance", json: ["reason": "RMA"]).status == 202)

            try lab.servers[0].freeze()
            let first = await server.server.conductor.syncPowerStates()
            #expect(first.failed == 1)
            let second = await server.server.conductor.syncPowerStates()
            #expect(second.movedToMaintenance == 1)
            let frozen = try await server.request("GET", "/v1/nodes/frozen").json()
            #expect(frozen["maintenance"] == true)
            #expect(frozen["fault"] == "power failure")
            #expect(frozen["maintenance_reason"]?.stringValue?.contains("max retries exceeded") == true)
            let history = try await server.request("GET", "/v1/nodes/frozen/history?detail=true").json()
            #expect(history["history"]?.arrayValue?.contains { $0["event_type"] == "monitoring" && $0["severity"] == "ERROR" } == true)

            #expect(await server.server.conductor.recoverPowerFailures() == 0, "a frozen BMC does not recover")
            try lab.servers[0].thaw()
            var recovered = 0
            for _ in 0..<5 where recovered == 0 {
                recovered = await server.server.conductor.recoverPowerFailures()
            }
            #expect(recovered == 1)
            let back = try await server.request("GET", "/v1/nodes/frozen").json()
            #expect(back["maintenance"] == false)
            #expect(back["fault"] == .null)
            let held = try await server.request("GET", "/v1/nodes/operator-held").json()
            #expect(held["maintenance"] == true, "an operator's maintenance survives sync and recovery")
            #expect(held["maintenance_reason"] == "RMA")
        }
    }

    @Test func selEntriesReachNodeHistory() async throws {
        try await Self.withLab(1) { lab, server in
            _ = try await Self.enroll(server, lab, 0, name: "sel")
            _ = try await server.server.conductor.pollHardwareEvents()
            let before = try await server.request("GET", "/v1/nodes/sel/history").json()["history"]?.arrayValue?.count ?? 0
            try await lab.servers[0].addSELEntry(sensorType: 0x01, sensorNumber: 0x01, eventType: 0x01, eventData: [0x09, 0xFF, 0xFF], assertion: true)
            let recorded = await server.server.conductor.pollHardwareEvents()
            #expect(recorded >= 1)
            let after = try await server.request("GET", "/v1/nodes/sel/history?detail=true").json()["history"]?.arrayValue ?? []
            #expect(after.count > before)
            #expect(after.contains { $0["event_type"] == "monitoring" })
            #expect(await server.server.conductor.pollHardwareEvents() == 0, "each record is recorded once")
        }
    }
}
