import ChildProcesses
import Core
import Foundation
import IronicTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A `direct` deploy whose conductor is killed with -9: two conductor processes, the real API
/// and database, and a stand-in for the ramdisk's agent. Each test starts four processes, so
/// the suite runs them one at a time.
@Suite("Deploy take-over after kill -9", .serialized)
struct DeployTakeoverTests {
    static let mac = "52:54:00:de:91:01"

    /// Deploy kernel, ramdisk and instance image in a directory of their own, and the
    /// configuration both conductors share (one `http_root`, no DHCP, no boot file server).
    struct Files {
        let directory: URL
        let imageSHA256: String

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "ironic-deploy-takeover-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for name in ["kernel", "initramfs"] {
                try Data("\(name) bytes".utf8).write(to: directory.appendingPathComponent(name))
            }
            let image = directory.appendingPathComponent("image.raw")
            try Data(repeating: 0xA5, count: 64 * 1024).write(to: image)
            let (status, output) = try ChildProcess.run("sha256sum", [image.path])
            guard status == 0, let digest = output.split(separator: " ").first, digest.count == 64 else {
                throw TestServerError.unexpected("sha256sum \(image.path) failed: \(output)")
            }
            imageSHA256 = String(digest)
        }

        var image: URL { directory.appendingPathComponent("image.raw") }

        var config: String {
            """
            [deploy]
            http_root = \(directory.appendingPathComponent("httpboot").path)
            http_url = http://127.0.0.1:9
            [dhcp]
            dhcp_provider = none
            """
        }

        func remove() { try? FileManager.default.removeItem(at: directory) }
    }

    /// A fake-hardware node with the `direct` deploy and `ipxe` boot and a port for `mac`,
    /// deployed and waiting for its ramdisk (`wait call-back`, unlocked); returns its UUID.

    static func deployingNode(_ cluster: Cluster, _ files: Files) async throws -> String {
        let node = try await cluster.createNode([
            "name": "takeover-node", "deploy_interface": "direct", "boot_interface": "ipxe",
            "driver_info": [
                "deploy_kernel": .string(files.directory.appendingPathComponent("kernel").path),
                "deploy_ramdisk": .string(files.directory.appendingPathComponent("initramfs").path),
            ],
            "instance_info": ["image_source": .string(files.image.path), "image_checksum": .string(files.imageSHA256)],
        ])
        let uuid = try #require(node["uuid"]?.stringValue)
        let port = try await cluster.request("POST", "/v1/ports", json: ["node_uuid": .string(uuid), "address": .string(mac)])
        try #require(port.status == 201, "\(port.text)")
        try await cluster.provision(uuid, "manage")
        try #require(try await cluster.provision(uuid, "provide")["provision_state"] == "available")
        let deploy = try await cluster.request("PUT", "/v1/nodes/\(uuid)/states/provision", json: ["target": "active"])
        try #require(deploy.status == 202, "\(deploy.text)")
        let waiting = try await cluster.waitForNode(uuid, timeout: .seconds(30)) {
            $0["reservation"] == .null && $0["provision_state"] != "deploying"
        }
        try #require(waiting["provision_state"] == "wait call-back", "\(waiting["last_error"] ?? .null)")
        return uuid
    }

    /// The node's owner and the other conductor.
    static func owner(of uuid: String, _ cluster: Cluster) async throws -> (owner: String, survivor: String) {
        let owner = try #require(try await cluster.request("GET", "/v1/nodes/\(uuid)").json()["conductor"]?.stringValue)
        let survivor = try #require(cluster.conductorHostnames.first { $0 != owner })
        return (owner, survivor)
    }

    /// Runs `body` with a two-conductor cluster, the files and a stand-in agent, and cleans
    /// all three up.
    static func withDeployCluster(
        _ database: ClusterDatabase, _ body: (Cluster, Files, StandInAgent) async throws -> Void
    ) async throws {
        let files = try Files()
        defer { files.remove() }
        let agent = try await StandInAgent.start()
        do {
            try await withCluster(database, conductors: 2, heartbeatTimeout: .seconds(6), config: files.config) { cluster in
                try await body(cluster, files, agent)
            }
        } catch {
            await agent.stop()
            throw error
        }
        await agent.stop()
    }

    /// The image write runs in the agent when the node's conductor dies; the next heartbeat
    /// reaches the other conductor, which finds the write done in the agent and carries the
    /// deploy on to `active` from the step list kept on the node.
    @Test(.timeLimit(.minutes(5)), arguments: ClusterDatabase.all)
    func aDeployWhoseConductorDiesWhileTheAgentWritesTheImageFinishesOnTheOther(_ database: ClusterDatabase) async throws {
        try await Self.withDeployCluster(database) { cluster, files, agent in
            let uuid = try await Self.deployingNode(cluster, files)
            let (owner, survivor) = try await Self.owner(of: uuid, cluster)

            agent.answer("prepare_image", with: .hold)
            let token = try await agent.lookup(api: cluster, mac: Self.mac, node: uuid)
            let first = try await agent.heartbeat(api: cluster, node: uuid)
            try #require(first.status == 202, "\(first.text)")
            let write = try await agent.waitForCommand("standby.prepare_image", timeout: .seconds(30))
            #expect(write.token == token && !write.wait)
            let image = write.params["image_info"]
            #expect(image?["os_hash_algo"] == "sha256" && image?["os_hash_value"] == .string(files.imageSHA256), "\(write.params)")
            #expect(image?["urls"]?.arrayValue?.first?.stringValue?.hasPrefix("http://127.0.0.1:9/") == true, "\(write.params)")
            let waiting = try await cluster.waitForNode(uuid, timeout: .seconds(20)) { $0["reservation"] == .null }
            #expect(waiting["provision_state"] == "wait call-back")
            #expect(waiting["deploy_step"]?["step"] == "write_image")

            await cluster.signal(owner, SIGKILL)
            let killedAt = ContinuousClock.now
            try agent.finish("prepare_image", result: ["result": "prepare_image: image written to device /dev/vda"])
            let commandsBefore = agent.calls.count
            // Heartbeats fail while the API's ring still names the dead conductor.
            let refused = try await agent.heartbeatUntilAccepted(
                api: cluster, node: uuid, timeout: cluster.heartbeatTimeout * 3 + .seconds(10))
            print("heartbeat accepted \(ContinuousClock.now - killedAt) after kill -9; refused before: \(refused)")

            // tear_down_agent waits up to 30 s for the agent to power the node off (fake power never does).
            let active = try await cluster.waitForNode(uuid, timeout: .seconds(90)) {
                $0["provision_state"] == "active" && $0["reservation"] == .null
                    || $0["provision_state"] == "deploy failed"
            }
            #expect(active["provision_state"] == "active", "\(active["last_error"] ?? .null)")
            #expect(active["target_provision_state"] == .null)
            #expect(active["last_error"] == .null)
            #expect(active["power_state"] == "power on")
            #expect(active["conductor"]?.stringValue == survivor)
            #expect(active["deploy_step"] == [:])

            let after = Array(agent.calls.dropFirst(commandsBefore))
            #expect(after.first?.method == "GET", "the survivor first asks the agent how the write went: \(after)")
            #expect(agent.commandNames.suffix(2) == ["standby.sync", "standby.power_off"], "\(agent.commandNames)")
            #expect(after.allSatisfy { $0.token == token && $0.status == 200 }, "\(after)")
            #expect(agent.commandNames.filter { $0 == "standby.prepare_image" }.count == 1, "the image is written once")

            let events = try await cluster.historyEvents(uuid)
            #expect(events.contains { $0.contains("Agent token issued") }, "\(events)")
            #expect(events.contains { $0.contains("Deployment of node \(uuid) finished") }, "\(events)")
            #expect(!events.contains { $0.contains("went offline") }, "the node was not locked when its conductor died: \(events)")
        }
    }

    /// The conductor dies while it holds the node's lock, waiting for the agent to answer the
    /// image write: the survivor takes the lock over and fails the deploy, saying which
    /// conductor died, and unlocks the node.
    @Test(.timeLimit(.minutes(5)), arguments: ClusterDatabase.all)
    func aConductorKilledHoldingTheLockFailsTheDeployAndUnlocksTheNode(_ database: ClusterDatabase) async throws {
        try await Self.withDeployCluster(database) { cluster, files, agent in
            let uuid = try await Self.deployingNode(cluster, files)
            let (owner, survivor) = try await Self.owner(of: uuid, cluster)

            agent.answer("prepare_image", with: .slow(.seconds(600)))
            _ = try await agent.lookup(api: cluster, mac: Self.mac, node: uuid)
            let first = try await agent.heartbeat(api: cluster, node: uuid)
            try #require(first.status == 202, "\(first.text)")
            try await agent.waitForCommand("standby.prepare_image", timeout: .seconds(30))
            let locked = try await cluster.request("GET", "/v1/nodes/\(uuid)").json()
            try #require(locked["reservation"]?.stringValue == owner, "the owner waits for the agent with the lock held: \(locked)")
            #expect(locked["provision_state"] == "deploying")

            await cluster.signal(owner, SIGKILL)
            let killedAt = ContinuousClock.now
            let failed = try await cluster.waitForNode(uuid, timeout: cluster.heartbeatTimeout * 3 + .seconds(20)) {
                $0["reservation"] == .null && $0["provision_state"] != "deploying"
            }
            print("deploy failed and unlocked \(ContinuousClock.now - killedAt) after kill -9")
            #expect(failed["provision_state"] == "deploy failed")
            #expect(failed["target_provision_state"] == "active")
            let lastError = failed["last_error"]?.stringValue ?? ""
            #expect(lastError.contains("Conductor \(owner) went offline") && lastError.contains("deploying"), "\(lastError)")
            #expect(failed["conductor"]?.stringValue == survivor)
            let events = try await cluster.historyEvents(uuid)
            #expect(events.contains { $0.contains("Conductor \(owner) went offline") }, "\(events)")

            // The node is usable again: torn down from `deploy failed`, it is available.
            let again = try await cluster.request("PUT", "/v1/nodes/\(uuid)/states/provision", json: ["target": "deleted"])
            #expect(again.status == 202, "\(again.text)")
            let available = try await cluster.waitForNode(uuid, timeout: .seconds(60)) {
                $0["reservation"] == .null && $0["target_provision_state"] == .null
            }
            #expect(available["provision_state"] == "available", "\(available["last_error"] ?? .null)")
        }
    }
}
