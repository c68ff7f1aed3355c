import Core
import Foundation
import IronicTesting
import Testing

/// The endpoints the deploy ramdisk calls, against a fake-hardware node with the real
/// `direct` deploy and `ipxe` boot interfaces waiting for its ramdisk.
@Suite("Ramdisk endpoints")
struct RamdiskAPITests {
    static let mac = "52:54:00:aa:bb:01"

    /// A server whose boot files live in its own directory, and a node in `wait call-back`
    /// with a port for `mac`.
    static func waitingNode(configure: @escaping (inout IronicConfig) -> Void = { _ in }) async throws -> (TestServer, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ironic-ramdisk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for name in ["kernel", "initramfs", "image.raw"] {
            try Data("\(name) bytes".utf8).write(to: directory.appendingPathComponent(name))
        }
        let server = try await TestServer.start(directory: directory) { config in
            config.deploy.httpRoot = directory.appendingPathComponent("httpboot").path
            config.conductor.automatedClean = false
            configure(&config)
        }
        let node = try await server.createNode([
            "deploy_interface": "direct", "boot_interface": "ipxe",
            "driver_info": [
                "deploy_kernel": .string(directory.appendingPathComponent("kernel").path),
                "deploy_ramdisk": .string(directory.appendingPathComponent("initramfs").path),
            ],
            "instance_info": [
                "image_source": .string(directory.appendingPathComponent("image.raw").path),
                "image_checksum": "0123456789abcdef0123456789abcdef",
            ],
        ])
        let uuid = try #require(node["uuid"]?.stringValue)
        let port = try await server.request("POST", "/v1/ports", json: ["node_uuid": .string(uuid), "address": .string(mac)])
        #expect(port.status == 201, "\(port.text)")
        try await server.provision(uuid, "manage")
        try await server.provision(uuid, "provide")
        let response = try await server.request("PUT", "/v1/nodes/\(uuid)/states/provision", json: ["target": "active"])
        #expect(response.status == 202, "\(response.text)")
        try await server.waitForNode(uuid) { $0["provision_state"] == "wait call-back" && $0["reservation"] == .null }
        return (server, uuid)
    }

    @Test func lookupHandsOutTheTokenOnce() async throws {
        let (server, uuid) = try await Self.waitingNode()
        defer { Task { await server.stop() } }
        let first = try await server.request("GET", "/v1/lookup?addresses=\(Self.mac.uppercased()),zz:not:a:mac", version: "1.68")
        #expect(first.status == 200, "\(first.text)")
        let document = try first.json()
        #expect(document["node"]?["uuid"]?.stringValue == uuid)
        #expect(Set(document["node"]?.objectValue?.keys.map { $0 } ?? []) == ["uuid", "properties", "instance_info", "driver_internal_info", "links"])
        let token = try #require(document["config"]?["agent_token"]?.stringValue)
        #expect(token.count >= 32 && token != "******")
        #expect(document["config"]?["agent_token_required"] == true)
        #expect(document["config"]?["heartbeat_timeout"] == 300)
        #expect(document["node"]?["driver_internal_info"]?["agent_secret_token"]?.stringValue == token)

        let second = try await server.request("GET", "/v1/lookup?node_uuid=\(uuid)", version: "1.68").json()
        #expect(second["config"]?["agent_token"] == "******")
        let shown = try await server.request("GET", "/v1/nodes/\(uuid)", version: "1.68").json()
        #expect(shown["driver_internal_info"]?["agent_secret_token"] == "******", "the node API never shows the token")
    }

    @Test func lookupRefusals() async throws {
        let (server, uuid) = try await Self.waitingNode()
        defer { Task { await server.stop() } }
        let unknown = try await server.request("GET", "/v1/lookup?addresses=52:54:00:00:00:99", version: "1.68")
        #expect(unknown.status == 404)
        #expect(try unknown.fault()["faultcode"] == "Client")
        let old = try await server.request("GET", "/v1/lookup?addresses=\(Self.mac)", version: "1.21")
        #expect(old.status == 404)
        let empty = try await server.request("GET", "/v1/lookup", version: "1.68")
        #expect(empty.status == 400)
        #expect(try empty.faultString().contains("addresses"))
        let badUUID = try await server.request("GET", "/v1/lookup?node_uuid=nope", version: "1.68")
        #expect(badUUID.status == 400)
        let tooNew = try await server.request("GET", "/v1/lookup?addresses=\(Self.mac)", version: "1.85")
        #expect(tooNew.status == 406)

        // A node that expects no ramdisk is not found, exactly like an unknown one.
        let idle = try await server.createNode()
        let idleUUID = try #require(idle["uuid"]?.stringValue)
        let notWaiting = try await server.request("GET", "/v1/lookup?node_uuid=\(idleUUID)", version: "1.68")
        #expect(notWaiting.status == 404)
        #expect(try await server.request("GET", "/v1/lookup?node_uuid=\(uuid)", version: "1.84").status == 200)
    }

    @Test func heartbeatNeedsTheToken() async throws {
        let (server, uuid) = try await Self.waitingNode()
        defer { Task { await server.stop() } }
        let token = try #require(
            try await server.request("GET", "/v1/lookup?node_uuid=\(uuid)", version: "1.68").json()["config"]?["agent_token"]?.stringValue)
        let before = try await server.request("GET", "/v1/nodes/\(uuid)", version: "1.68").json()

        let missing = try await server.request(
            "POST", "/v1/heartbeat/\(uuid)", json: ["callback_url": "http://127.0.0.1:9"], version: "1.68")
        #expect(missing.status == 400)
        #expect(try missing.faultString().contains("Agent token is required"))
        let wrong = try await server.request(
            "POST", "/v1/heartbeat/\(uuid)",
            json: ["callback_url": "http://127.0.0.1:9", "agent_token": .string(String(token.reversed()))], version: "1.68")
        #expect(wrong.status == 400)
        #expect(try wrong.faultString().contains("Invalid or missing agent token"))
        let badURL = try await server.request(
            "POST", "/v1/heartbeat/\(uuid)", json: ["callback_url": "ftp://x", "agent_token": .string(token)], version: "1.68")
        #expect(badURL.status == 400)
        let unknownField = try await server.request(
            "POST", "/v1/heartbeat/\(uuid)",
            json: ["callback_url": "http://127.0.0.1:9", "agent_token": .string(token), "agent_status": "start"], version: "1.68")
        #expect(unknownField.status == 400, "agent_status needs 1.72")
        let after = try await server.request("GET", "/v1/nodes/\(uuid)", version: "1.68").json()
        #expect(after["driver_internal_info"] == before["driver_internal_info"], "a refused heartbeat changes nothing")
        #expect(after["provision_state"] == "wait call-back")
        #expect(after["reservation"] == .null)

        let old = try await server.request(
            "POST", "/v1/heartbeat/\(uuid)", json: ["callback_url": "http://127.0.0.1:9", "agent_token": .string(token)], version: "1.21")
        #expect(old.status == 404)
    }

    /// A ramdisk that never calls back: the deploy fails after `deploy_callback_timeout`
    /// with Ironic's message, no lock left, the node powered off, and a history entry.
    @Test func silentRamdiskTimesOut() async throws {
        let (server, uuid) = try await Self.waitingNode {
            $0.deploy.deployCallbackTimeout = .seconds(2)
            $0.deploy.checkProvisionStateInterval = .seconds(1)
        }
        defer { Task { await server.stop() } }
        let failed = try await server.waitForNode(uuid, timeout: .seconds(30)) {
            $0["provision_state"] == "deploy failed" && $0["reservation"] == .null
        }
        #expect(failed["last_error"]?.stringValue == "Timeout reached while waiting for callback for node \(uuid)")
        #expect(failed["power_state"] == "power off")
        #expect(failed["target_provision_state"] == "active", "as in Ironic, deploy failed keeps its target")
        let history = try await server.request("GET", "/v1/nodes/\(uuid)/history").json()
        let events = history["history"]?.arrayValue?.compactMap { $0["event"]?.stringValue } ?? []
        #expect(events.contains { $0.contains("Timeout reached while waiting for callback") })
        // The lookup a late ramdisk makes now finds nothing.
        #expect(try await server.request("GET", "/v1/lookup?node_uuid=\(uuid)", version: "1.68").status == 404)
    }

    @Test func endpointsCanBeTurnedOff() async throws {
        let (server, uuid) = try await Self.waitingNode { $0.api.enableRamdiskEndpoints = false }
        defer { Task { await server.stop() } }
        let lookup = try await server.request("GET", "/v1/lookup?node_uuid=\(uuid)", version: "1.68")
        #expect(lookup.status == 403)
        let heartbeat = try await server.request(
            "POST", "/v1/heartbeat/\(uuid)", json: ["callback_url": "http://127.0.0.1:9", "agent_token": "x"], version: "1.68")
        #expect(heartbeat.status == 403)
    }

    @Test func continueInspectionValidatesTheInventory() async throws {
        let (server, _) = try await Self.waitingNode()
        defer { Task { await server.stop() } }
        let noInventory = try await server.request("POST", "/v1/continue_inspection", json: ["foo": 1], version: nil)
        #expect(noInventory.status == 400)
        let noInterfaces = try await server.request("POST", "/v1/continue_inspection", json: ["inventory": ["interfaces": []]], version: nil)
        #expect(noInterfaces.status == 400)
        let unknown = try await server.request(
            "POST", "/v1/continue_inspection", json: ["inventory": ["interfaces": [["mac_address": "52:54:00:00:00:98"]]]], version: nil)
        #expect(unknown.status == 404)
        let midVersion = try await server.request(
            "POST", "/v1/continue_inspection", json: ["inventory": ["interfaces": [["mac_address": .string(Self.mac)]]]],
            version: "1.50")
        #expect(midVersion.status == 404, "only 1.1 (ironic-inspector's shape) and 1.84 serve it")
        let notInspecting = try await server.request(
            "POST", "/v1/continue_inspection", json: ["inventory": ["interfaces": [["mac_address": .string(Self.mac)]]]],
            version: nil)
        #expect(notInspecting.status == 409, "\(notInspecting.text)")
    }

    @Test func inventoryNeedsItsMicroversion() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let node = try await server.createNode()
        let uuid = try #require(node["uuid"]?.stringValue)
        #expect(try await server.request("GET", "/v1/nodes/\(uuid)/inventory", version: "1.80").status == 404)
        let none = try await server.request("GET", "/v1/nodes/\(uuid)/inventory", version: "1.81")
        #expect(none.status == 404)
        #expect(try none.fault()["faultstring"]?.stringValue?.contains("inventory") == true)
    }

    /// A node in `inspect wait` through the `agent` inspect interface, with a port for `mac`.
    static func inspectingNode(
        bmcAddress: String? = nil, configure: @escaping (inout IronicConfig) -> Void = { _ in }
    ) async throws -> (TestServer, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ironic-inspect-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for name in ["kernel", "initramfs"] {
            try Data("\(name) bytes".utf8).write(to: directory.appendingPathComponent(name))
        }
        let server = try await TestServer.start(directory: directory) { config in
            config.deploy.httpRoot = directory.appendingPathComponent("httpboot").path
            configure(&config)
        }
        var driverInfo: [String: JSONValue] = [
            "deploy_kernel": .string(directory.appendingPathComponent("kernel").path),
            "deploy_ramdisk": .string(directory.appendingPathComponent("initramfs").path),
        ]
        if let bmcAddress { driverInfo["ipmi_address"] = .string(bmcAddress) }
        let node = try await server.createNode(["boot_interface": "ipxe", "inspect_interface": "agent", "driver_info": .object(driverInfo)])
        let uuid = try #require(node["uuid"]?.stringValue)
        let port = try await server.request("POST", "/v1/ports", json: ["node_uuid": .string(uuid), "address": .string(mac)])
        #expect(port.status == 201, "\(port.text)")
        try await server.provision(uuid, "manage")
        let response = try await server.request("PUT", "/v1/nodes/\(uuid)/states/provision", json: ["target": "inspect"])
        #expect(response.status == 202, "\(response.text)")
        try await server.waitForNode(uuid) { $0["provision_state"] == "inspect wait" && $0["reservation"] == .null }
        return (server, uuid)
    }

    /// IPA's inventory of a machine with two connected NICs, 2 CPUs, 2 GiB and a 10 GiB disk.
    static let inventory: JSONValue = [
        "interfaces": [
            ["name": "ens3", "mac_address": .string(mac.uppercased()), "ipv4_address": "10.0.2.15"],
            ["name": "ens4", "mac_address": "52:54:00:aa:bb:02", "ipv4_address": "10.0.3.15"],
            ["name": "ens5", "mac_address": "52:54:00:aa:bb:03"],
        ],
        "cpu": ["count": 2, "architecture": "x86_64", "model_name": "QEMU Virtual CPU"],
        "memory": ["physical_mb": 2048, "total": 2_147_483_648],
        "disks": [["name": "/dev/vda", "size": 10_737_418_240]],
        "bmc_address": "0.0.0.0",
    ]

    @Test func inspectionFillsPropertiesAndCreatesPorts() async throws {
        let (server, uuid) = try await Self.inspectingNode { $0.deploy.inspectorAddPorts = "active" }
        defer { Task { await server.stop() } }
        let posted = try await server.request(
            "POST", "/v1/continue_inspection", json: ["inventory": Self.inventory, "boot_interface": "01-52-54-00-aa-bb-01"],
            version: "1.84")
        #expect(posted.status == 202, "\(posted.text)")
        let node = try await server.waitForNode(uuid) { $0["provision_state"] == "manageable" && $0["reservation"] == .null }
        #expect(node["properties"]?["cpus"] == 2)
        #expect(node["properties"]?["cpu_arch"] == "x86_64")
        #expect(node["properties"]?["memory_mb"] == 2048)
        #expect(node["properties"]?["local_gb"] == 9, "10 GiB less one for partitioning")
        #expect(node["inspection_finished_at"] != .null)
        #expect(node["power_state"] == "power off", "[inspector] power_off")

        let ports = try await server.request("GET", "/v1/ports?node=\(uuid)").json()
        let addresses = Set((ports["ports"]?.arrayValue ?? []).compactMap { $0["address"]?.stringValue })
        #expect(addresses == [Self.mac, "52:54:00:aa:bb:02"], "the connected NICs, the existing port kept, none for the unconnected one")

        let stored = try await server.request("GET", "/v1/nodes/\(uuid)/inventory", version: "1.81")
        #expect(stored.status == 200, "\(stored.text)")
        #expect(try stored.json()["inventory"]?["cpu"]?["count"] == 2)

        let history = try await server.request("GET", "/v1/nodes/\(uuid)/history?detail=true", version: "1.78").json()
        let events = (history["history"]?.arrayValue ?? []).compactMap { $0["event"]?.stringValue }
        #expect(events.contains { $0.contains("Inspection finished") && $0.contains("52:54:00:aa:bb:02") }, "\(events)")
    }

    @Test func inspectionFindsTheNodeByItsBMCAddress() async throws {
        let (server, uuid) = try await Self.inspectingNode(bmcAddress: "192.0.2.9")
        defer { Task { await server.stop() } }
        // Other nodes, one with the same BMC address but not inspecting, must not get in the way.
        _ = try await server.createNode(["driver_info": ["ipmi_address": "192.0.2.9"]])
        let inventory: JSONValue = [
            "interfaces": [["name": "eno1", "mac_address": "52:54:00:cc:dd:01", "ipv4_address": "192.0.2.50"]],
            "cpu": ["count": 4, "architecture": "x86_64"], "memory": ["physical_mb": 4096], "disks": [],
            "bmc_address": "192.0.2.9",
        ]
        let posted = try await server.request("POST", "/v1/continue_inspection", json: ["inventory": inventory], version: "1.84")
        #expect(posted.status == 202, "\(posted.text)")
        #expect(try posted.json()["node"]?["uuid"]?.stringValue == uuid, "1.84 answers with the lookup document")
        let node = try await server.waitForNode(uuid) { $0["provision_state"] == "manageable" && $0["reservation"] == .null }
        #expect(node["properties"]?["cpus"] == 4)
        let ports = try await server.request("GET", "/v1/ports?node=\(uuid)").json()
        let addresses = Set((ports["ports"]?.arrayValue ?? []).compactMap { $0["address"]?.stringValue })
        #expect(addresses == [Self.mac, "52:54:00:cc:dd:01"], "add_ports=pxe without a boot MAC: the connected NIC")

        let unknown: JSONValue = ["interfaces": [["mac_address": "52:54:00:cc:dd:99"]], "bmc_address": "198.51.100.1"]
        #expect(try await server.request("POST", "/v1/continue_inspection", json: ["inventory": unknown], version: "1.84").status == 404)
    }

    /// An abort in `inspect wait` ends the ramdisk's work as Ironic's agent inspection does:
    /// boot files gone, power off; a late inventory is refused.
    @Test func abortInInspectWaitEndsTheRamdisk() async throws {
        let (server, uuid) = try await Self.inspectingNode()
        defer { Task { await server.stop() } }
        let nodeFiles = server.directory.appendingPathComponent("httpboot/\(uuid)")
        #expect(FileManager.default.fileExists(atPath: nodeFiles.path), "the ramdisk's boot files while it is waited on")
        let abort = try await server.request("PUT", "/v1/nodes/\(uuid)/states/provision", json: ["target": "abort"])
        #expect(abort.status == 202, "\(abort.text)")
        let node = try await server.waitForNode(uuid) { $0["provision_state"] == "inspect failed" && $0["reservation"] == .null }
        #expect(node["power_state"] == "power off")
        #expect(!FileManager.default.fileExists(atPath: nodeFiles.path))
        let late = try await server.request(
            "POST", "/v1/continue_inspection", json: ["inventory": Self.inventory], version: "1.84")
        #expect(late.status == 404 || late.status == 409, "\(late.text)")
    }

    /// `[agent] deploy_logs_collect = on_failure`: a failed deploy step leaves the ramdisk's
    /// system logs on the conductor before the ramdisk is powered off.
    @Test func aFailedDeployKeepsTheRamdisksLogs() async throws {
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("ironic-deploy-logs-\(UUID().uuidString)")
        let (server, uuid) = try await Self.waitingNode { $0.deploy.deployLogsLocalPath = logs.path }
        defer { Task { await server.stop() } }
        let agent = try await StandInAgent.start()
        defer { Task { await agent.stop() } }
        let tarball = Data("a gzipped tar".utf8)
        agent.answer("collect_system_logs", with: .succeed(result: ["system_logs": .string(tarball.base64EncodedString())]))
        _ = try await agent.lookup(api: server, mac: Self.mac, node: uuid)
        try await agent.heartbeatUntilAccepted(api: server, node: uuid, timeout: .seconds(10))
        // The node's image does not match its checksum: write_image fails on the conductor.
        let failed = try await server.waitForNode(uuid) { $0["provision_state"] == "deploy failed" && $0["reservation"] == .null }
        #expect(failed["last_error"]?.stringValue?.contains("write_image") == true, "\(failed["last_error"] ?? .null)")
        _ = try await agent.waitForCommand("log.collect_system_logs", timeout: .seconds(10))
        let files = try FileManager.default.contentsOfDirectory(atPath: logs.path)
        #expect(files.count == 1 && files[0].hasPrefix("\(uuid)_unknown_deploy_") && files[0].hasSuffix(".tar.gz"), "\(files)")
        if let file = files.first {
            #expect(try Data(contentsOf: logs.appendingPathComponent(file)) == tarball)
        }
    }
}
