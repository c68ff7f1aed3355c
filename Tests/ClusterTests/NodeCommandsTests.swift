import ChildProcesses
import Core
import Foundation
import IronicTesting
import Server
import Store
import Testing

/// `ironic node reset-state` and `ironic node release-lock`, run as the real executable
/// against a database the test prepares.
@Suite("Node repair commands")
struct NodeCommandsTests {
    let directory: URL
    let configFile: URL
    let store: any Store

    init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ironic-node-cli-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        configFile = directory.appendingPathComponent("ironic.conf")
        try "[database]\nconnection = sqlite:///\(directory.path)/ironic.sqlite\n".write(to: configFile, atomically: true, encoding: .utf8)
        var config = IronicConfig()
        config.database.connection = "sqlite:///\(directory.path)/ironic.sqlite"
        store = try ServiceFactory.makeStore(config)
        _ = try await store.upgrade()
    }

    /// Runs `ironic ARGS --config-file ...`; returns the exit status and everything printed.
    func ironic(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await ChildProcess.run(
            try Cluster.binaryDirectory().appendingPathComponent("ironic").path, arguments + ["--config-file", configFile.path],
            timeout: .seconds(60))
    }

    /// A node left `deploying` under a lock held by `holder`, which is alive or not.
    func strandedNode(holder: String, alive: Bool) async throws -> Node {
        try await store.registerConductor(ConductorRecord(hostname: holder))
        if !alive { try await store.unregisterConductor(hostname: holder) }
        var node = try await store.createNode(Node(driver: "fake-hardware"))
        node.name = "stuck-\(holder)"
        node.provisionState = .deploying
        node.targetProvisionState = .active
        node = try await store.saveNode(node)
        return try await store.reserveNode(uuid: node.uuid, conductor: holder)
    }

    @Test func releaseLockRefusesALiveHolderUnlessForced() async throws {
        let node = try await strandedNode(holder: "live-conductor", alive: true)
        let refused = try await ironic(["node", "release-lock", node.uuid])
        #expect(refused.status != 0)
        #expect(refused.output.contains("live-conductor, which is alive"), "\(refused.output)")
        #expect(try await store.node(uuid: node.uuid).reservation == "live-conductor")

        let forced = try await ironic(["node", "release-lock", node.name!, "--force"])
        #expect(forced.status == 0, "\(forced.output)")
        #expect(try await store.node(uuid: node.uuid).reservation == nil)
        let history = try await store.history(nodeUUID: node.uuid, page: PageQuery())
        #expect(history.contains { $0.event.contains("Lock held by live-conductor released by") && $0.user != nil })
    }

    @Test func releaseLockFreesADeadHoldersLockAndSaysWhenNothingIsLocked() async throws {
        let node = try await strandedNode(holder: "dead-conductor", alive: false)
        #expect(try await ironic(["node", "release-lock", node.uuid]).status == 0)
        #expect(try await store.node(uuid: node.uuid).reservation == nil)
        let again = try await ironic(["node", "release-lock", node.uuid])
        #expect(again.status == 0)
        #expect(again.output.contains("is not locked"))
    }

    @Test func resetStateAcceptsOnlyStableStatesAndRecordsWhoDidIt() async throws {
        let node = try await strandedNode(holder: "gone", alive: false)
        let transient = try await ironic(["node", "reset-state", node.uuid, "--to", "cleaning"])
        #expect(transient.status != 0)
        #expect(transient.output.contains("not a stable provision state"), "\(transient.output)")

        let reset = try await ironic(["node", "reset-state", node.uuid, "--to", "deploy failed", "--reason", "conductor host lost"])
        #expect(reset.status == 0, "\(reset.output)")
        let after = try await store.node(uuid: node.uuid)
        #expect(after.provisionState == .deployFailed)
        #expect(after.targetProvisionState == nil)
        #expect(after.reservation == nil)
        let history = try await store.history(nodeUUID: node.uuid, page: PageQuery())
        #expect(history.contains { $0.event.contains("reset from \"deploying\" to \"deploy failed\"") && $0.event.contains("conductor host lost") })
    }

    @Test func resetStateRefusesALiveHolderUnlessForced() async throws {
        let node = try await strandedNode(holder: "busy", alive: true)
        #expect(try await ironic(["node", "reset-state", node.uuid, "--to", "available"]).status != 0)
        #expect(try await store.node(uuid: node.uuid).provisionState == .deploying)
        #expect(try await ironic(["node", "reset-state", node.uuid, "--to", "available", "--force"]).status == 0)
        #expect(try await store.node(uuid: node.uuid).provisionState == .available)
    }
}
