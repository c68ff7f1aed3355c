import ConsoleProxyAPI
import Core
import Foundation
import IronicTesting
import Server
import Testing

@testable import Lab

/// Consoles end to end through our API: `ironic standalone`'s in-process proxy, real worker
/// processes (`ironic-ipmiproxy worker`), real ipmi_sim BMCs.
@Suite(.serialized) struct ConsoleAPITests {
    static func workerArguments() -> String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: me).deletingLastPathComponent()
        for _ in 0..<3 {
            if FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("ironic").path) { break }
            directory = directory.deletingLastPathComponent()
        }
        return directory.path
    }

    @Test func enableConsoleReadBootTypeAndRestoreAfterProxyLosesIt() async throws {
        try await Lab.withTemporaryLab(count: 1) { lab in
            // The test process is not `ironic`: the proxy's workers are the built `ironic` binary.
            let binDirectory = Self.workerArguments()
            let server = try await TestServer.start { config in
                config.drivers.enabledHardwareTypes = ["fake-hardware", "ipmi"]
                config.conductor.syncPowerStateInterval = .zero
                config.conductor.hardwareEventPollInterval = .zero
                config.document.set("ipmiproxy", "sol_session_timeout", "10")
                config.document.set("ipmiproxy", "sol_keepalive", "4")
                config.document.set("ipmiproxy", "worker_executable", "\(binDirectory)/ironic")
                config.document.set("ipmiproxy", "auth_token", "console-test-token")
            }
            defer { Task { await server.stop() } }
            var info = lab.driverInfo(for: lab.servers[0]).mapValues(JSONValue.string)
            info["ipmi_poll_during_console"] = .bool(false)
            let node = try await server.createNode([
                "name": "console-0", "driver": "ipmi", "console_interface": "ipmitool-socat", "driver_info": .object(info),
            ])
            #expect(node["console_interface"] == "ipmitool-socat")
            // Power on before the console: with ipmi_poll_during_console = false power is refused later.
            let on = try await server.request("PUT", "/v1/nodes/console-0/states/power", json: ["target": "power on"])
            #expect(on.status == 202, "\(String(decoding: on.body, as: UTF8.self))")
            _ = try await server.waitForNode("console-0", timeout: .seconds(30)) { $0["power_state"] == "power on" }

            let enable = try await server.request("PUT", "/v1/nodes/console-0/states/console", json: ["enabled": true])
            #expect(enable.status == 202)
            _ = try await server.waitForNode("console-0", timeout: .seconds(30)) { $0["console_enabled"] == true }
            let state = try await server.request("GET", "/v1/nodes/console-0/states/console").json()
            #expect(state["console_info"]?["type"] == "socat", "\(state)")
            let url = try #require(state["console_info"]?["url"]?.stringValue)
            #expect(url.hasPrefix("tcp://127.0.0.1:"))
            let port = Int(url.split(separator: ":").last!)!

            let viewer = try Viewer(port: port)
            #expect(try await viewer.typeUntilEchoed("typed-through-ironic"), "\(viewer.received)")
            // The console log through our API (an extension): what the serial port printed.
            let log = try await server.request("GET", "/v1/nodes/console-0/console/log")
            #expect(log.status == 200)
            #expect(log.headers["content-type"]?.hasPrefix("text/plain") == true)
            #expect(log.text.contains("typed-through-ironic"), "\(log.text.suffix(300))")

            // BMCs that fail when polled during SOL: power actions answer 409 instead of touching the BMC.
            let refused = try await server.request("PUT", "/v1/nodes/console-0/states/power", json: ["target": "power off"])
            #expect(refused.status == 409, "\(String(decoding: refused.body, as: UTF8.self))")
            #expect(try refused.faultString().contains("ipmi_poll_during_console"))

            // The proxy loses the console (as after a proxy restart): the reconcile task restores it on the same port.
            let uuid = try #require(node["uuid"]?.stringValue)
            let recorded = try await server.server.store.node(uuid: uuid).driverInternalInfo
            let proxyURL = try #require(recorded["ipmi_proxy_url"]?.stringValue)
            let consoleID = try #require(recorded["ipmi_proxy_console_id"]?.stringValue)
            #expect(await server.server.conductor.reconcileConsoles() == 0, "a running console is left alone")
            let proxy = ConsoleProxyClient(baseURL: URL(string: proxyURL)!, credentials: .token("console-test-token"))
            #expect(try await proxy.delete(consoleID))
            #expect(await server.server.conductor.reconcileConsoles() == 1)
            let again = try await server.request("GET", "/v1/nodes/console-0/states/console").json()
            #expect(again["console_info"]?["url"]?.stringValue == url, "nova's URL stays valid: \(again)")
            let history = try await server.request("GET", "/v1/nodes/console-0/history", version: "1.78").json()
            #expect(history.serialized().contains("Console restored"), "\(history.serialized())")
            let second = try Viewer(port: port)
            #expect(try await second.typeUntilEchoed("after-restore"), "\(second.received)")
            let disable = try await server.request("PUT", "/v1/nodes/console-0/states/console", json: ["enabled": false])
            #expect(disable.status == 202)
            _ = try await server.waitForNode("console-0", timeout: .seconds(30)) { $0["console_enabled"] == false }
            #expect(try await proxy.list().isEmpty, "disabling stops the console on the proxy")
        }
    }

    /// With `[ipmi] console_proxy_urls` set, consoles go to those proxies and the all-in-one
    /// runs no proxy of its own (nothing listens on its `[ipmiproxy] port`).
    @Test(arguments: [false, true])
    func localProxyRunsOnlyWithoutConfiguredProxies(configured: Bool) async throws {
        let port = ProxyProcess.freePort()
        let server = try await TestServer.start { config in
            config.document.set("ipmiproxy", "port", "\(port)")
            if configured { config.document.set("ipmi", "console_proxy_urls", "http://127.0.0.1:9") }
        }
        defer { Task { await server.stop() } }
        // The local proxy starts beside the API: give it until the first answer from the API.
        _ = try await server.request("GET", "/v1/nodes")
        var listening = false
        for _ in 0..<50 where !listening {
            if let fd = try? POSIX.connectTCP(port: port, timeout: .seconds(1)) {
                close(fd)
                listening = true
            } else if configured {
                break  // refused at once: nothing will listen there
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(listening == !configured, "a local proxy listens on \(port): \(listening)")
    }
}

/// A raw TCP console client.
final class Viewer: @unchecked Sendable {
    let fd: Int32
    private let lock = NSLock()
    private var bytes: [UInt8] = []

    init(port: Int) throws { fd = try POSIX.connectTCP(port: port, timeout: .seconds(5)) }
    deinit { close(fd) }

    var received: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }

    func waitFor(_ text: String, after offset: Int, timeout: Duration) async -> Bool {
        (try? await onOwnThread("console-test-viewer") {
            let deadline = ContinuousClock.now + timeout
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !self.received.dropFirst(offset).contains(text) {
                let left = deadline - .now
                guard left > .zero, POSIX.waitFor(self.fd, events: Int16(POLLIN), timeout: left) else { return false }
                let count = buffer.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
                if count <= 0 { return false }
                self.lock.withLock { self.bytes += buffer[0..<count] }
            }
            return true
        }) ?? false
    }

    func typeUntilEchoed(_ line: String, attempts: Int = 5) async throws -> Bool {
        for _ in 0..<attempts {
            let offset = received.count
            try POSIX.sendAll(fd, Array("\r\(line)\r".utf8), deadline: .now + .seconds(5))
            if await waitFor(line + "\r\n", after: offset, timeout: .seconds(15)) { return true }
        }
        return false
    }
}
