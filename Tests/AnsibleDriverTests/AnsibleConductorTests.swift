import AnsibleDrivers
import Core
import Foundation
import HardwareTypes
import RPC
import SQLiteStore
import Store
import Testing

@testable import Conductor

/// A fake-hardware node deployed with the `ansible` interface through a real conductor and the
/// real ansible-playbook; the heartbeat a ramdisk would send is sent by the test.
@Suite("ansible deploy through the conductor")
struct AnsibleConductorTests {
    struct Setup {
        let store: SQLiteStore
        let lab: PlaybookLab
        let settings: AnsibleConfig

        init(configure: (inout AnsibleConfig) -> Void = { _ in }) async throws {
            store = try SQLiteStore.inMemory()
            _ = try await store.upgrade()
            lab = try PlaybookLab()
            var settings = try lab.settings(window: .milliseconds(200))
            configure(&settings)
            self.settings = settings
        }

        /// A conductor named `c1` with its own runner, as a freshly started process has,
        /// registered and heartbeating.
        func conductor() async throws -> (Conductor, AnsibleRunner) {
            let defaults = IronicConfig()
            let registry = try ShippedHardware.registry(
                config: DriverConfig(enabledHardwareTypes: ["fake-hardware"]), ipmi: defaults.ipmi, conductor: defaults.conductor,
                logger: .tests, ansible: settings)
            var probe = Node(driver: "fake-hardware")
            probe.interfaces[.deploy] = "ansible"
            try registry.resolveInterfaces(of: &probe)
            let deploy = try #require(try registry.driver(for: probe).deploy as? AnsibleDeploy)
            let conductor = Conductor(hostname: "c1", store: store, registry: registry, config: defaults.conductor, logger: .tests)
            let service = ConductorService(conductor: conductor, config: defaults.conductor)
            try await store.registerConductor(service.record())
            await service.heartbeat()
            return (conductor, deploy.runner)
        }

        func availableNode() async throws -> Node {
            var node = Node(driver: "fake-hardware")
            node.interfaces[.deploy] = "ansible"
            node.provisionState = .available
            node.powerState = .off
            // The image's size is known, so no HEAD request goes out.
            node.instanceInfo = ["image_source": "http://127.0.0.1:1/image.raw", "image_mem_req": 100]
            let registry = try ShippedHardware.registry(config: DriverConfig(enabledHardwareTypes: ["fake-hardware"]))
            try registry.resolveInterfaces(of: &node)
            return try await store.createNode(node)
        }

        func waitFor(_ uuid: String, _ states: Set<ProvisionState>, seconds: Int = 90) async throws -> Node {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while ContinuousClock.now < deadline {
                let node = try await store.node(uuid: uuid)
                if states.contains(node.provisionState), node.reservation == nil { return node }
                try await Task.sleep(for: .milliseconds(100))
            }
            let node = try await store.node(uuid: uuid)
            Issue.record("node stayed in \(node.provisionState.rawValue) (\(node.lastError ?? "no error"))")
            return node
        }

        /// The ramdisk's lookup and first heartbeat, from 127.0.0.1.
        func heartbeat(_ conductor: Conductor, _ uuid: String) async throws {
            let context = RequestContext(requestID: "req-\(UUID().uuidString)")
            let looked = try await conductor.getNodeWithToken(NodeRequest(context: context, nodeUUID: uuid))
            let token =
                try await store.node(uuid: uuid).driverInternalInfo["agent_secret_token"]?.stringValue
                ?? looked.driverInternalInfo["agent_secret_token"]?.stringValue
            try await conductor.heartbeat(
                HeartbeatRequest(context: context, nodeUUID: uuid, callbackURL: "http://127.0.0.1:9999", agentToken: token))
        }
    }

    static let context = RequestContext(requestID: "req-ansible-tests")

    @Test func aNodeDeploysThroughEveryStepWithItsPlaybooks() async throws {
        let setup = try await Setup()
        let (conductor, _) = try await setup.conductor()
        let node = try await setup.availableNode()
        try await conductor.doProvisioningAction(ProvisioningActionRequest(context: Self.context, nodeUUID: node.uuid, verb: .active))
        _ = try await setup.waitFor(node.uuid, [.deployWait, .deployFailed])
        try await setup.heartbeat(conductor, node.uuid)

        let deployed = try await setup.waitFor(node.uuid, [.active, .deployFailed])
        #expect(deployed.provisionState == .active, "\(deployed.lastError ?? "")")
        #expect(deployed.powerState == .on)
        #expect(deployed.driverInternalInfo["agent_awaited"] == nil)
        let logs = try FileManager.default.contentsOfDirectory(atPath: setup.settings.playbookLogDirectory).sorted()
        #expect(logs.count == 2, "the deploy and the shutdown playbook: \(logs)")
        #expect(logs.contains { $0.contains("-deploy-") } && logs.contains { $0.contains("-shutdown-") })
    }

    @Test func aConductorRestartDuringThePlaybookEndsInDeployFailed() async throws {
        let setup = try await Setup {
            $0.defaultDeployPlaybook = "hang.yaml"
            $0.playbookTimeout = .seconds(8)
        }
        let (first, firstRunner) = try await setup.conductor()
        let node = try await setup.availableNode()
        try await first.doProvisioningAction(ProvisioningActionRequest(context: Self.context, nodeUUID: node.uuid, verb: .active))
        _ = try await setup.waitFor(node.uuid, [.deployWait, .deployFailed])
        try await setup.heartbeat(first, node.uuid)
        // write_image queued the playbook; the node waits for it, unlocked.
        let deadline = ContinuousClock.now + .seconds(30)
        while try await setup.store.node(uuid: node.uuid).driverInternalInfo["agent_awaited"] != "ansible:deploy",
            ContinuousClock.now < deadline
        {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try await setup.store.node(uuid: node.uuid).provisionState == .deployWait)

        // The conductor restarts: the new process has no record of the playbook.
        let (restarted, _) = try await setup.conductor()
        try await setup.heartbeat(restarted, node.uuid)
        let failed = try await setup.waitFor(node.uuid, [.deployFailed, .active])
        #expect(failed.provisionState == .deployFailed)
        #expect(
            failed.lastError?.contains(
                "has no record of ansible:deploy of step deploy.write_image on node \(node.uuid): the conductor that ran it restarted or went offline, so its outcome is unknown"
            ) == true, "\(failed.lastError ?? "")")

        // The old process's playbook ends at its timeout; nothing carries the node on after it.
        await firstRunner.wait(nodeUUID: node.uuid, awaited: "ansible:deploy")
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await setup.store.node(uuid: node.uuid).provisionState == .deployFailed)
    }
}
