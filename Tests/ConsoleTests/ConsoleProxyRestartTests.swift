import ConsoleProxyAPI
import Core
import Foundation
import IronicTesting
import Testing

@testable import Lab

/// A console proxy that is a separate `ironic-ipmiproxy` process dies (SIGKILL: its workers
/// see their stdin end and exit) and comes back: the conductor's reconcile task
/// (`[conductor] console_reconcile_interval`) starts the console again on the same TCP port
/// and records it in node history.
@Suite(.serialized) struct ConsoleProxyRestartTests {
    @Test func conductorRestoresTheConsoleAfterTheProxyProcessIsKilledAndRestarted() async throws {
        try await Lab.withTemporaryLab(count: 1) { lab in
            try await withProxyProcesses(1, name: "restart") { proxies in try await restoreAfterRestart(lab, proxies[0]) }
        }
    }

    private func restoreAfterRestart(_ lab: Lab, _ proxy: ProxyProcess) async throws {
        let server = try await consoleTestServer(proxies: [proxy], reconcileInterval: .milliseconds(500))
        defer { Task { await server.stop() } }
        let info = lab.driverInfo(for: lab.servers[0]).mapValues(JSONValue.string)
        let node = try await server.createNode([
            "name": "restart-0", "driver": "ipmi", "console_interface": "ipmi-proxy", "driver_info": .object(info),
        ])
        let uuid = try #require(node["uuid"]?.stringValue)
        #expect(try await server.request("PUT", "/v1/nodes/restart-0/states/console", json: ["enabled": true]).status == 202)
        _ = try await server.waitForNode("restart-0", timeout: .seconds(60)) { $0["console_enabled"] == true }
        let shown = try await server.request("GET", "/v1/nodes/restart-0/states/console").json()
        let url = try #require(shown["console_info"]?["url"]?.stringValue)
        let port = Int(url.split(separator: ":").last ?? "") ?? 0

        let viewer = try Viewer(port: port)
        #expect(try await viewer.typeUntilEchoed("before-the-restart"), "\(viewer.received)")
        let recorded = try await server.server.store.node(uuid: uuid).driverInternalInfo
        #expect(recorded["ipmi_proxy_url"]?.stringValue?.hasPrefix(proxy.url) == true, "\(recorded)")
        let consoleID = try #require(recorded["ipmi_proxy_console_id"]?.stringValue)
        let client = ConsoleProxyClient(baseURL: URL(string: proxy.url)!, credentials: .token(proxy.token))
        let worker = try #require(try await client.get(consoleID)?.pid)
        #expect(processRuns(worker))

        // The proxy dies: its worker sees its stdin end and goes with it.
        try await proxy.stop(signal: SIGKILL)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(30)
        while processRuns(worker) && clock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!processRuns(worker), "the worker outlived its proxy")
        // While the proxy is down the reconcile task cannot restore anything; the node stays enabled.
        #expect(await server.server.conductor.reconcileConsoles() == 0)
        #expect(try await server.request("GET", "/v1/nodes/restart-0").json()["console_enabled"] == true)

        // The proxy comes back empty; the periodic reconcile task restores the console.
        try await proxy.start()
        let restored = try await waitForHistory(server, "restart-0", containing: "Console restored", timeout: .seconds(60))
        #expect(restored["severity"] == "INFO", "\(restored)")
        let again = try await server.request("GET", "/v1/nodes/restart-0/states/console").json()
        #expect(again["console_info"]?["url"]?.stringValue == url, "nova's URL stays valid: \(again)")
        let second = try Viewer(port: port)
        #expect(try await second.typeUntilEchoed("after-the-restart"), "\(second.received)")
        #expect(try await client.list(nodeUUID: uuid).count == 1)

        #expect(try await server.request("PUT", "/v1/nodes/restart-0/states/console", json: ["enabled": false]).status == 202)
        _ = try await server.waitForNode("restart-0", timeout: .seconds(30)) { $0["console_enabled"] == false }
        #expect(try await client.list().isEmpty, "disabling stops the console on the proxy")
    }
}

/// A console whose port another process took while its worker restarted moves to new ports on
/// the proxy; the conductor's reconcile pass records where it is, so `console_info` (nova's URL)
/// is right again.
@Suite(.serialized) struct MovedConsoleTests {
    @Test func reconcileRecordsTheEndpointOfAConsoleThatMoved() async throws {
        try await Lab.withTemporaryLab(count: 1) { lab in
            // A restart backoff of 1 s: time enough to take the port after the worker dies.
            try await withProxyProcesses(1, name: "moved", restartBackoff: 1) { proxies in try await recordMove(lab, proxies[0]) }
        }
    }

    private func recordMove(_ lab: Lab, _ proxy: ProxyProcess) async throws {
        let server = try await consoleTestServer(proxies: [proxy])  // reconcile passes run by the test
        defer { Task { await server.stop() } }
        let info = lab.driverInfo(for: lab.servers[0]).mapValues(JSONValue.string)
        _ = try await server.createNode(["name": "moved-0", "driver": "ipmi", "console_interface": "ipmi-proxy", "driver_info": .object(info)])
        #expect(try await server.request("PUT", "/v1/nodes/moved-0/states/console", json: ["enabled": true]).status == 202)
        _ = try await server.waitForNode("moved-0", timeout: .seconds(60)) { $0["console_enabled"] == true }
        let before = try #require(try await server.request("GET", "/v1/nodes/moved-0/states/console").json()["console_info"]?["url"]?.stringValue)
        let client = ConsoleProxyClient(baseURL: URL(string: proxy.url)!, credentials: .token(proxy.token))
        let console = try #require(try await client.list().first)
        #expect(console.endpoints.tcp == before)

        let squatter = try await PortSquatter.take(Int(before.split(separator: ":").last ?? "") ?? 0, afterKilling: Int32(try #require(console.pid)))
        let deadline = ContinuousClock.now + .seconds(60)
        var moved = console
        while ContinuousClock.now < deadline, !(moved.state == .running && moved.endpoints.tcp != before) {
            try await Task.sleep(for: .milliseconds(100))
            moved = try await client.get(console.id) ?? moved
        }
        #expect(moved.state == .running && moved.endpoints.tcp != before, "the console did not move: \(moved)")
        #expect(try await server.request("GET", "/v1/nodes/moved-0/states/console").json()["console_info"]?["url"]?.stringValue == before)

        #expect(await server.server.conductor.reconcileConsoles() == 1)
        let after = try await server.request("GET", "/v1/nodes/moved-0/states/console").json()
        #expect(after["console_info"]?["url"]?.stringValue == moved.endpoints.tcp, "\(after)")
        let entry = try await waitForHistory(server, "moved-0", containing: "Console moved to \(moved.endpoints.tcp)", timeout: .seconds(5))
        #expect(entry["severity"] == "INFO")
        #expect(try await client.list().map(\.id) == [console.id], "the running console was kept, not replaced")
        #expect(await server.server.conductor.reconcileConsoles() == 0)
        let viewer = try Viewer(port: Int(moved.endpoints.tcp.split(separator: ":").last ?? "") ?? 0)
        #expect(try await viewer.typeUntilEchoed("where-it-moved"), "\(viewer.received)")
        withExtendedLifetime(squatter) {}
    }
}

/// With two proxies configured, a console whose proxy dies (SIGKILL, its workers with it) is
/// started again on the other one by the reconcile pass; `console_info` names its new endpoint.
@Suite(.serialized) struct ProxyFailoverTests {
    @Test func aConsoleMovesToTheOtherProxyWhenItsOwnDies() async throws {
        try await Lab.withTemporaryLab(count: 1) { lab in
            try await withProxyProcesses(2, name: "failover") { proxies in try await failOver(lab, proxies) }
        }
    }

    private func failOver(_ lab: Lab, _ proxies: [ProxyProcess]) async throws {
        let server = try await consoleTestServer(proxies: proxies)  // reconcile passes run by the test
        defer { Task { await server.stop() } }
        let info = lab.driverInfo(for: lab.servers[0]).mapValues(JSONValue.string)
        let uuid = try #require(
            try await server.createNode(["name": "failover-0", "driver": "ipmi", "console_interface": "ipmi-proxy", "driver_info": .object(info)])[
                "uuid"]?.stringValue)
        #expect(try await server.request("PUT", "/v1/nodes/failover-0/states/console", json: ["enabled": true]).status == 202)
        _ = try await server.waitForNode("failover-0", timeout: .seconds(60)) { $0["console_enabled"] == true }
        let recorded = try await server.server.store.node(uuid: uuid).driverInternalInfo["ipmi_proxy_url"]?.stringValue
        let home = try #require(proxies.firstIndex { recorded?.hasPrefix($0.url) == true })
        let other = proxies[1 - home]

        try await proxies[home].stop(signal: SIGKILL)
        #expect(await server.server.conductor.reconcileConsoles() == 1)
        let moved = try await server.server.store.node(uuid: uuid).driverInternalInfo
        #expect(moved["ipmi_proxy_url"]?.stringValue?.hasPrefix(other.url) == true, "\(moved)")
        _ = try await waitForHistory(server, "failover-0", containing: "Console restored", timeout: .seconds(5))
        let client = ConsoleProxyClient(baseURL: URL(string: other.url)!, credentials: .token(other.token))
        let running = try #require(try await client.list(nodeUUID: uuid).first)
        let url = try #require(try await server.request("GET", "/v1/nodes/failover-0/states/console").json()["console_info"]?["url"]?.stringValue)
        #expect(url == running.endpoints.tcp)
        let viewer = try Viewer(port: Int(url.split(separator: ":").last ?? "") ?? 0)
        #expect(try await viewer.typeUntilEchoed("on-the-other-proxy"), "\(viewer.received)")

        // The dead proxy comes back empty: the console stays where it now runs.
        try await proxies[home].start()
        #expect(await server.server.conductor.reconcileConsoles() == 0)
        #expect(await server.server.conductor.stopUnwantedConsoles() == 0)
        #expect(try await client.list(nodeUUID: uuid).map(\.id) == [running.id])
    }
}

/// Polls a node's history until an entry's event contains `text`; returns that entry.
func waitForHistory(_ server: some IronicAPIClient, _ node: String, containing text: String, timeout: Duration) async throws -> JSONValue {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    var last: JSONValue = .null
    while clock.now < deadline {
        last = try await server.request("GET", "/v1/nodes/\(node)/history", version: "1.78").json()
        if let entry = last["history"]?.arrayValue?.first(where: { $0["event"]?.stringValue?.contains(text) == true }) {
            return entry
        }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw TestServerError.timedOut("no history entry of \(node) contains \"\(text)\"; last: \(last.serialized())")
}

/// The history entries of `node` whose event contains `text`.
func historyEntries(_ server: some IronicAPIClient, _ node: String, containing text: String) async throws -> [JSONValue] {
    let history = try await server.request("GET", "/v1/nodes/\(node)/history", version: "1.78").json()
    return (history["history"]?.arrayValue ?? []).filter { $0["event"]?.stringValue?.contains(text) == true }
}
