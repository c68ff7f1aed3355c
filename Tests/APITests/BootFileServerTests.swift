import Core
import IronicTesting
import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import Logging
import ServiceLifecycle
import Server
import Testing

/// The conductor's boot file server: serves `http_root` on `http_url`'s port, follows the
/// per-MAC links the boot interfaces write, and refuses paths outside the root.
@Suite("Boot file server")
struct BootFileServerTests {
    @Test func addressComesFromHTTPURL() throws {
        var settings = DeployConfig()
        settings.httpURL = "http://10.0.2.2:8123/"
        settings.httpServerHost = "127.0.0.1"
        let address = try #require(try BootFileServer.address(settings))
        #expect(address.host == "127.0.0.1" && address.port == 8123)
        settings.httpServerHost = ""
        #expect(try BootFileServer.address(settings) == nil)
        settings.httpServerHost = "127.0.0.1"
        settings.httpURL = "tftp://10.0.2.2"
        #expect(throws: IronicError.self) { try BootFileServer.address(settings) }
    }

    @Test func servesTheRootAndItsLinks() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ironic-boot-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let node = root.appendingPathComponent("node-1")
        try FileManager.default.createDirectory(at: node, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("pxelinux.cfg"), withIntermediateDirectories: true)
        try Data("#!ipxe\necho hello\n".utf8).write(to: node.appendingPathComponent("config"))
        try FileManager.default.createSymbolicLink(
            atPath: root.appendingPathComponent("pxelinux.cfg/52-54-00-aa-bb-01").path, withDestinationPath: "../node-1/config")

        let port = try Cluster.freePort()
        var settings = DeployConfig()
        settings.httpRoot = root.path
        settings.httpURL = "http://10.0.2.2:\(port)"
        settings.httpServerHost = "127.0.0.1"
        let service = try #require(try BootFileServer.service(settings, logger: Logger(label: "boot-test")))
        let group = ServiceGroup(services: [service], logger: Logger(label: "boot-test"))
        let running = Task { try await group.run() }
        defer { Task { await group.triggerGracefulShutdown() } }

        let base = "http://127.0.0.1:\(port)"
        var script: (Int, String) = (0, "")
        for _ in 0..<100 {
            if let fetched = try? await Self.get("\(base)/pxelinux.cfg/52-54-00-aa-bb-01") {
                script = fetched
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(script.0 == 200)
        #expect(script.1.contains("echo hello"))
        #expect(try await Self.get("\(base)/node-1/missing").0 == 404)
        #expect(try await Self.get("\(base)/../../etc/passwd").0 == 404)
        #expect(try await Self.get("\(base)/node-1/%2e%2e/%2e%2e/etc/passwd").0 != 200)
        await group.triggerGracefulShutdown()
        try await running.value
    }

    static func get(_ url: String) async throws -> (Int, String) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }
}
