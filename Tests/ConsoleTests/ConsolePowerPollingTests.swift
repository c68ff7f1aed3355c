import Core
import Foundation
import IronicTesting
import Testing

@testable import Lab

/// `ipmi_poll_during_console = false`: while the console is enabled power sync leaves the BMC
/// alone and power actions answer 409. Node history records it once per console session (when
/// the console is enabled, or on the first skipped sync when the option was set during a
/// session), and every refused power action.
@Suite(.serialized) struct ConsolePowerPollingTests {
    static let skips = "Power state sync skips this node"
    static let refused = "refused"

    @Test func powerSyncAndPowerActionsDuringAConsoleAreRecordedOncePerSession() async throws {
        try await Lab.withTemporaryLab(count: 1) { lab in
            let binDirectory = ConsoleAPITests.workerArguments()
            let server = try await TestServer.start { config in
                config.drivers.enabledHardwareTypes = ["fake-hardware", "ipmi"]
                config.conductor.syncPowerStateInterval = .zero
                config.conductor.hardwareEventPollInterval = .zero
                config.conductor.consoleReconcileInterval = .zero
                config.document.set("ipmiproxy", "sol_session_timeout", "10")
                config.document.set("ipmiproxy", "sol_keepalive", "4")
                config.document.set("ipmiproxy", "worker_executable", "\(binDirectory)/ironic")
                // Console ports apart from ConsoleAPITests' proxy (10000 up), which runs in parallel:
                // two proxies handing out the same range race for the same ports.
                let base = 12000 + Int.random(in: 0..<100) * 20
                config.document.set("ipmiproxy", "port_range", "\(base):\(base + 19)")
            }
            defer { Task { await server.stop() } }
            var info = lab.driverInfo(for: lab.servers[0]).mapValues(JSONValue.string)
            info["ipmi_poll_during_console"] = .bool(false)
            _ = try await server.createNode([
                "name": "poll-0", "driver": "ipmi", "console_interface": "ipmi-proxy", "driver_info": .object(info),
            ])
            // Power sync leaves nodes in enroll alone: manage it (this reads the BMC).
            let managed = try await server.provision("poll-0", "manage")
            #expect(managed["provision_state"] == "manageable", "\(managed)")
            let conductor = server.server.conductor
            // No console yet: power is read as usual and nothing is recorded.
            #expect(await conductor.syncPowerStates().checked == 1)
            #expect(try await historyEntries(server, "poll-0", containing: Self.skips).isEmpty)

            // Session 1: enabled with the option off. One entry, however many sync passes skip.
            try await setConsole(server, "poll-0", enabled: true)
            #expect(try await historyEntries(server, "poll-0", containing: Self.skips).count == 1)
            for _ in 0..<3 {
                let report = await conductor.syncPowerStates()
                #expect(report.checked == 0 && report.skipped == 1, "\(report)")
            }
            #expect(try await historyEntries(server, "poll-0", containing: Self.skips).count == 1)

            // A power action is refused with 409 and recorded, with the target.
            let refused = try await server.request("PUT", "/v1/nodes/poll-0/states/power", json: ["target": "power off"])
            #expect(refused.status == 409, "\(refused.text)")
            #expect(try refused.faultString().contains("ipmi_poll_during_console"))
            let refusals = try await historyEntries(server, "poll-0", containing: Self.refused)
            #expect(refusals.count == 1, "\(refusals)")
            #expect(refusals.first?["severity"] == "WARNING")
            #expect(refusals.first?["event"]?.stringValue?.contains("power off") == true)

            // Console off: polling resumes.
            try await setConsole(server, "poll-0", enabled: false)
            #expect(await conductor.syncPowerStates().checked == 1)

            // Session 2: enabled with the option on, switched off during the session. The first
            // sync that skips records it once.
            try await patch(server, "poll-0", value: true)
            try await setConsole(server, "poll-0", enabled: true)
            #expect(await conductor.syncPowerStates().checked == 1)
            #expect(try await historyEntries(server, "poll-0", containing: Self.skips).count == 1)
            try await patch(server, "poll-0", value: false)
            #expect(await conductor.syncPowerStates().skipped == 1)
            #expect(await conductor.syncPowerStates().skipped == 1)
            #expect(try await historyEntries(server, "poll-0", containing: Self.skips).count == 2)
            try await setConsole(server, "poll-0", enabled: false)
        }
    }

    private func setConsole(_ server: TestServer, _ node: String, enabled: Bool) async throws {
        let response = try await server.request("PUT", "/v1/nodes/\(node)/states/console", json: ["enabled": .bool(enabled)])
        #expect(response.status == 202, "\(response.text)")
        let settled = try await server.waitForNode(node, timeout: .seconds(60)) {
            $0["console_enabled"] == .bool(enabled) && $0["reservation"] == .null
        }
        #expect(settled["last_error"] == .null, "\(settled)")
    }

    private func patch(_ server: TestServer, _ node: String, value: Bool) async throws {
        let response = try await server.request(
            "PATCH", "/v1/nodes/\(node)",
            json: [["op": "add", "path": "/driver_info/ipmi_poll_during_console", "value": .bool(value)]])
        #expect(response.status == 200, "\(response.text)")
    }
}
