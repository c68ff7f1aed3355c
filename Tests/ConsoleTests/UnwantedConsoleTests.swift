import ConsoleProxyAPI
import Core
import Foundation
import IronicTesting
import Lab
import Testing

/// Consoles a proxy runs that no node wants — what a timed-out stop or a node deleted while the
/// proxy was unreachable leaves behind, each holding its BMC's only serial-over-LAN session —
/// are stopped by the conductor's reconcile pass, as are copies of a node's console on a proxy
/// other than the one the node records; the console a node has enabled stays.
@Suite(.serialized) struct UnwantedConsoleTests {
    @Test func consolesOfDisabledAndDeletedNodesAndStrayCopiesAreStoppedAndTheWantedOneStays() async throws {
        try await Lab.withTemporaryLab(count: 4) { lab in
            try await withProxyProcesses(2, name: "unwanted") { proxies in try await stopUnwanted(lab, proxies) }
        }
    }

    private func stopUnwanted(_ lab: Lab, _ proxies: [ProxyProcess]) async throws {
        let server = try await consoleTestServer(proxies: proxies)  // reconcile passes run by the test
        defer { Task { await server.stop() } }
        let clients = proxies.map { ConsoleProxyClient(baseURL: URL(string: $0.url)!, credentials: .token($0.token)) }
        func everyConsole() async throws -> Set<String> {
            var ids = Set<String>()
            for client in clients { ids.formUnion(try await client.list().map(\.id)) }
            return ids
        }
        func node(_ name: String, _ server: SimulatedServer) -> [String: JSONValue] {
            [
                "name": .string(name), "driver": "ipmi", "console_interface": "ipmi-proxy",
                "driver_info": .object(lab.driverInfo(for: server).mapValues(JSONValue.string)),
            ]
        }
        func leftover(_ nodeUUID: String, _ server: SimulatedServer) -> ConsoleRequest {
            ConsoleRequest(
                nodeUUID: nodeUUID,
                bmc: BMCEndpoint(
                    address: "127.0.0.1", port: server.bmcPort, username: lab.username, password: lab.password,
                    workarounds: Lab.ipmiWorkarounds.split(separator: ",").map(String.init)))
        }

        // The wanted console: enabled through the API, on the node's home proxy.
        let wanted = try #require(try await server.createNode(node("wanted", lab.servers[0]))["uuid"]?.stringValue)
        #expect(try await server.request("PUT", "/v1/nodes/wanted/states/console", json: ["enabled": true]).status == 202)
        _ = try await server.waitForNode("wanted", timeout: .seconds(60)) { $0["console_enabled"] == true }
        let recorded = try await server.server.store.node(uuid: wanted).driverInternalInfo
        let wantedID = try #require(recorded["ipmi_proxy_console_id"]?.stringValue)
        let home = try #require(proxies.firstIndex { recorded["ipmi_proxy_url"]?.stringValue?.hasPrefix($0.url) == true })
        let elsewhere = clients[1 - home]

        // Left behind: a console of a node whose console is disabled, one of a deleted node, and
        // a copy of the wanted node's console on the proxy that is not its home.
        let disabled = try #require(try await server.createNode(node("disabled", lab.servers[1]))["uuid"]?.stringValue)
        let stale = try await clients[0].create(leftover(disabled, lab.servers[1]))
        let ghost = try await clients[1].create(leftover(UUID().uuidString.lowercased(), lab.servers[2]))
        let copy = try await elsewhere.create(leftover(wanted, lab.servers[3]))
        #expect(try await everyConsole() == [wantedID, stale.id, ghost.id, copy.id])

        #expect(await server.server.conductor.stopUnwantedConsoles() == 3)
        #expect(try await everyConsole() == [wantedID])
        #expect(try await clients[home].get(wantedID)?.state != .error)
        let entry = try #require(try await historyEntries(server, "disabled", containing: "Stopped console \(stale.id)").first)
        #expect(entry["severity"] == "WARNING")
        #expect(entry["event"]?.stringValue?.contains("the node's console is disabled") == true, "\(entry)")
        let stray = try await historyEntries(server, "wanted", containing: "Stopped console")
        #expect(stray.count == 1 && stray[0]["event"]?.stringValue?.contains("\(copy.id) on \(proxies[1 - home].url)") == true, "\(stray)")
        #expect(stray.first?["event"]?.stringValue?.contains("the node records another console") == true, "\(stray)")

        // Nothing more to do; the wanted console still serves its node.
        #expect(await server.server.conductor.stopUnwantedConsoles() == 0)
        #expect(try await server.request("GET", "/v1/nodes/wanted/states/console").json()["console_enabled"] == true)
        #expect(try await clients[home].get(wantedID) != nil)

        #expect(try await server.request("PUT", "/v1/nodes/wanted/states/console", json: ["enabled": false]).status == 202)
        _ = try await server.waitForNode("wanted", timeout: .seconds(30)) { $0["console_enabled"] == false }
        #expect(try await everyConsole().isEmpty)
    }
}
