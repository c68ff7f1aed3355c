import Core
import Foundation
import IronicTesting
import Testing

/// `agent` rescue against the real conductor and API, with a stand-in for the ramdisk's agent:
/// a fake-hardware node deployed with `fake` deploy, booting its rescue ramdisk over `ipxe`.
@Suite("Agent rescue")
struct RescueAPITests {
    static let mac = "52:54:00:aa:cc:01"
    static let password = "rescue-me-please"

    /// A server and an `active` node with `rescue_interface=agent`; `rescueImages` false leaves
    /// out `rescue_kernel`/`rescue_ramdisk`.
    static func activeNode(
        rescueImages: Bool = true, configure: @escaping (inout IronicConfig) -> Void = { _ in }
    ) async throws -> (TestServer, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ironic-rescue-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var driverInfo: [String: JSONValue] = [:]
        for name in ["deploy_kernel", "deploy_ramdisk", "rescue_kernel", "rescue_ramdisk"] where rescueImages || name.hasPrefix("deploy") {
            try Data("\(name) bytes".utf8).write(to: directory.appendingPathComponent(name))
            driverInfo[name] = .string(directory.appendingPathComponent(name).path)
        }
        let server = try await TestServer.start(directory: directory) { config in
            config.deploy.httpRoot = directory.appendingPathComponent("httpboot").path
            config.conductor.automatedClean = false
            configure(&config)
        }
        let node = try await server.createNode([
            "boot_interface": "ipxe", "rescue_interface": "agent", "driver_info": .object(driverInfo),
        ])
        let uuid = try #require(node["uuid"]?.stringValue)
        let port = try await server.request("POST", "/v1/ports", json: ["node_uuid": .string(uuid), "address": .string(mac)])
        #expect(port.status == 201, "\(port.text)")
        for target in ["manage", "provide", "active"] { try await server.provision(uuid, target) }
        return (server, uuid)
    }

    static func startRescue(_ server: TestServer, _ uuid: String) async throws -> JSONValue {
        let response = try await server.request(
            "PUT", "/v1/nodes/\(uuid)/states/provision", json: ["target": "rescue", "rescue_password": .string(password)])
        #expect(response.status == 202, "\(response.text)")
        return try await server.waitForNode(uuid) { $0["provision_state"] == "rescue wait" && $0["reservation"] == .null }
    }

    @Test func rescueHandsTheAgentAHashedPasswordAndUnrescueBootsTheDisk() async throws {
        let (server, uuid) = try await Self.activeNode()
        defer { Task { await server.stop() } }
        let agent = try await StandInAgent.start()
        defer { Task { await agent.stop() } }

        let waiting = try await Self.startRescue(server, uuid)
        #expect(waiting["instance_info"]?["rescue_password"] == "******", "the API masks the password")
        #expect(waiting["instance_info"]?["hashed_rescue_password"] == "******")
        #expect(waiting["power_state"] == "power on", "the rescue ramdisk boots")

        _ = try await agent.lookup(api: server, mac: Self.mac, node: uuid)
        try await agent.heartbeatUntilAccepted(api: server, node: uuid, timeout: .seconds(10))
        let call = try await agent.waitForCommand("rescue.finalize_rescue", timeout: .seconds(10))
        #expect(call.params["hashed"] == true)
        let hashed = try #require(call.params["rescue_password"]?.stringValue)
        #expect(hashed.hasPrefix("$5$") && !hashed.contains(Self.password), "sha256-crypt, never the password itself")

        let rescued = try await server.waitForNode(uuid) { $0["provision_state"] == "rescue" && $0["reservation"] == .null }
        #expect(rescued["target_provision_state"] == .null)
        #expect(rescued["instance_info"]?["rescue_password"] == nil && rescued["instance_info"]?["hashed_rescue_password"] == nil)
        #expect(rescued["driver_internal_info"]?["agent_url"] == nil, "the agent stops serving once rescued")
        #expect(rescued["power_state"] == "power on", "the machine stays up in the ramdisk")
        #expect(agent.commandNames == ["rescue.finalize_rescue"])
        // The ramdisk's boot files are gone: a reboot would not land in the ramdisk again.
        let httpRoot = server.directory.appendingPathComponent("httpboot/\(uuid)")
        #expect(!FileManager.default.fileExists(atPath: httpRoot.path))

        let back = try await server.provision(uuid, "unrescue")
        #expect(back["provision_state"] == "active", "\(back["last_error"] ?? .null)")
        #expect(back["power_state"] == "power on")
        let history = try await server.request("GET", "/v1/nodes/\(uuid)/history").json()
        let events = history["history"]?.arrayValue?.compactMap { $0["event"]?.stringValue } ?? []
        #expect(events.contains { $0.contains("is in rescue") }, "\(events)")
    }

    @Test func anAgentThatRefusesFailsTheRescue() async throws {
        let (server, uuid) = try await Self.activeNode()
        defer { Task { await server.stop() } }
        let agent = try await StandInAgent.start()
        defer { Task { await agent.stop() } }
        agent.answer("finalize_rescue", with: .fail(message: "cannot write /etc/ipa-rescue-config/ipa-rescue-password"))

        _ = try await Self.startRescue(server, uuid)
        _ = try await agent.lookup(api: server, mac: Self.mac, node: uuid)
        try await agent.heartbeatUntilAccepted(api: server, node: uuid, timeout: .seconds(10))
        let failed = try await server.waitForNode(uuid) { $0["provision_state"] == "rescue failed" && $0["reservation"] == .null }
        let error = failed["last_error"]?.stringValue ?? ""
        #expect(error.contains("finalize_rescue") && error.contains("ipa-rescue-password"), "\(error)")
        #expect(failed["power_state"] == "power off")
        #expect(failed["instance_info"]?["rescue_password"] == nil && failed["instance_info"]?["hashed_rescue_password"] == nil)
        // From rescue failed the node can be unrescued back to its instance.
        let back = try await server.provision(uuid, "unrescue")
        #expect(back["provision_state"] == "active", "\(back["last_error"] ?? .null)")
    }

    @Test func aSilentRescueRamdiskTimesOut() async throws {
        let (server, uuid) = try await Self.activeNode {
            $0.deploy.rescueCallbackTimeout = .seconds(2)
            $0.deploy.checkProvisionStateInterval = .seconds(1)
        }
        defer { Task { await server.stop() } }
        _ = try await Self.startRescue(server, uuid)
        let failed = try await server.waitForNode(uuid, timeout: .seconds(30)) {
            $0["provision_state"] == "rescue failed" && $0["reservation"] == .null
        }
        #expect(failed["last_error"]?.stringValue == "Timeout reached while waiting for rescue ramdisk callback for node \(uuid)")
        #expect(failed["power_state"] == "power off")
        #expect(failed["instance_info"]?["rescue_password"] == nil && failed["instance_info"]?["hashed_rescue_password"] == nil)
    }

    @Test func rescueNeedsTheRescueRamdiskAndAPassword() async throws {
        let (server, uuid) = try await Self.activeNode(rescueImages: false)
        defer { Task { await server.stop() } }
        let missing = try await server.request(
            "PUT", "/v1/nodes/\(uuid)/states/provision", json: ["target": "rescue", "rescue_password": .string(Self.password)])
        #expect(missing.status == 400, "\(missing.text)")
        #expect(try missing.fault()["faultstring"]?.stringValue?.contains("rescue_kernel") == true, "\(missing.text)")
        let blank = try await server.request(
            "PUT", "/v1/nodes/\(uuid)/states/provision", json: ["target": "rescue", "rescue_password": "   "])
        #expect(blank.status == 400, "\(blank.text)")
        let node = try await server.request("GET", "/v1/nodes/\(uuid)").json()
        #expect(node["provision_state"] == "active", "a refused rescue changes nothing")
        #expect(node["instance_info"]?["rescue_password"] == nil)
    }
}
