import ChildProcesses
import Conductor
import Core
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import Hummingbird
import IronicTesting
import Logging
@testable import RPC
import Store
import Testing

@testable import Server

/// A conductor's JSON-RPC listener over real HTTP (and TLS), called by the API's transport.
@Suite("JSON-RPC listener")
struct JSONRPCListenerTests {
    /// A conductor over an in-memory store behind a listener on a free port; `body` gets the
    /// configuration clients should use and the store.
    static func withListener(
        configure: (inout IronicConfig) -> Void = { _ in }, _ body: (IronicConfig, any Store) async throws -> Void
    ) async throws {
        var config = IronicConfig()
        config.host = "127.0.0.1"
        config.jsonRPC.port = try Cluster.freePort()
        config.jsonRPC.username = "rpc"
        config.jsonRPC.password = "secret"
        config.drivers = DriverConfig(enabledHardwareTypes: ["fake-hardware"])
        config.database.connection = "sqlite://"
        configure(&config)
        let logger = Logger(label: "rpc-listener-tests")
        let store = try ServiceFactory.makeStore(config)
        _ = try await store.upgrade()
        let conductor = Conductor(
            hostname: config.conductorHostname, store: store, registry: try ServiceFactory.makeRegistry(config),
            config: config.conductor, logger: logger)
        let (ready, continuation) = AsyncStream<Int>.makeStream()
        let listener = try ServiceFactory.makeJSONRPCListener(conductor: conductor, config: config, logger: logger) {
            continuation.yield($0)
        }
        let running = Task { try await listener.runService() }
        for await _ in ready { break }
        do {
            try await body(config, store)
        } catch {
            running.cancel()
            throw error
        }
        running.cancel()
        _ = try? await running.value
    }

    static let context = RequestContext(requestID: "req-test")

    @Test func aCallReachesTheConductorAndErrorsKeepTheirClass() async throws {
        try await Self.withListener { config, store in
            let transport = try JSONRPCTransport(config: config.jsonRPC, logger: Logger(label: "client"))
            let node = try await transport.call(
                .createNode, on: config.conductorHostname, CreateNodeRequest(context: Self.context, node: Node(driver: "fake-hardware")),
                requestID: "req-1")
            #expect(try await store.node(uuid: node.uuid).driver == "fake-hardware")
            _ = try await store.reserveNode(uuid: node.uuid, conductor: "elsewhere")
            do {
                try await transport.call(
                    .changePowerState, on: config.conductorHostname,
                    ChangePowerStateRequest(context: Self.context, nodeUUID: node.uuid, target: .on), requestID: nil)
                Issue.record("expected NodeLocked")
            } catch let error as IronicError {
                #expect(error.status == 409)
                #expect(error.code == "NodeLocked")
            }
            try await transport.shutdown()
        }
    }

    @Test(arguments: [("rpc", "wrong"), ("", ""), ("other", "secret")])
    func wrongCredentialsAreRefused(_ username: String, _ password: String) async throws {
        try await Self.withListener { config, _ in
            var client = config.jsonRPC
            client.username = username.isEmpty ? nil : username
            client.password = password.isEmpty ? nil : password
            client.authStrategy = username.isEmpty ? .noauth : .httpBasic
            let transport = try JSONRPCTransport(config: client, logger: Logger(label: "client"))
            do {
                _ = try await transport.call(
                    .createNode, on: config.conductorHostname, CreateNodeRequest(context: Self.context, node: Node(driver: "fake-hardware")),
                    requestID: nil)
                Issue.record("a call without the right credentials went through")
            } catch let error as IronicError {
                #expect(error.message.contains("HTTP 401"), "\(error)")
            }
            try await transport.shutdown()
        }
    }

    /// Ironic's listener checks credentials against an htpasswd file of bcrypt hashes
    /// (`[json_rpc] http_basic_auth_user_file`); ours does too, and notices when it changes.
    @Test func credentialsFromAnHtpasswdFile() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("htpasswd-json-rpc-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: file) }
        // `htpasswd -B` writes $2y$; Python's bcrypt writes $2b$. Passwords: "rpc-secret",
        // "other pass:word".
        try """
            # JSON-RPC users
            ironic:$2y$05$Zm9vYmFyYmF6cXV4cXV1e.XJmNZs54yK35HPi9T7vLK0ijlHekX8C

            nova:$2b$04$c2FsdHNhbHRzYWx0c2Fsd.Sqp1F1zw2mkimTY66TYAI5ym/aSsGRq
            """.write(to: file, atomically: true, encoding: .utf8)
        try await Self.withListener(configure: {
            $0.jsonRPC.username = nil
            $0.jsonRPC.password = nil
            $0.jsonRPC.httpBasicAuthUserFile = file.path
        }) { config, _ in
            func call(_ username: String, _ password: String) async throws -> Bool {
                var client = config.jsonRPC
                client.username = username
                client.password = password
                let transport = try JSONRPCTransport(config: client, logger: Logger(label: "client"))
                defer { Task { try? await transport.shutdown() } }
                do {
                    _ = try await transport.call(
                        .createNode, on: config.conductorHostname, CreateNodeRequest(context: Self.context, node: Node(driver: "fake-hardware")),
                        requestID: nil)
                    return true
                } catch let error as IronicError where error.message.contains("HTTP 401") {
                    return false
                }
            }
            #expect(try await call("ironic", "rpc-secret"))
            #expect(try await call("ironic", "rpc-secret"), "the second call (remembered) too")
            #expect(try await call("nova", "other pass:word"), "a colon in the password")
            #expect(!(try await call("ironic", "rpc-secret ")))
            #expect(!(try await call("ironic", "other pass:word")), "another user's password")
            #expect(!(try await call("ghost", "rpc-secret")))

            // Rotated: the old password stops working without a restart.
            try "ironic:$2b$04$c2FsdHNhbHRzYWx0c2Fsd.Sqp1F1zw2mkimTY66TYAI5ym/aSsGRq\n".write(to: file, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(5)], ofItemAtPath: file.path)
            #expect(!(try await call("ironic", "rpc-secret")), "the rotated-out password")
            #expect(try await call("ironic", "other pass:word"))
        }
    }

    @Test(arguments: [
        ("ironic:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", "only bcrypt hashes are supported"),
        ("no colon here\n", "expected 'user:hash'"),
    ])
    func htpasswdFilesWithoutBcryptAreRefusedAtStart(_ content: String, _ message: String) throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("htpasswd-bad-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: file) }
        try content.write(to: file, atomically: true, encoding: .utf8)
        let error = #expect(throws: ConfigError.self) { _ = try HTPasswdFile(path: file.path) }
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
        #expect(throws: ConfigError.self) { _ = try HTPasswdFile(path: file.path + ".missing") }
    }

    @Test func onlyPOSTIsServed() async throws {
        try await Self.withListener { config, _ in
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(config.jsonRPC.port)/")!)
            request.httpMethod = "GET"
            let (_, response) = try await URLSession.shared.data(for: request)
            #expect((response as? HTTPURLResponse)?.statusCode == 405)
        }
    }

    @Test func anUnreachableConductorIsReportedAsSuch() async throws {
        var config = JSONRPCConfig()
        config.authStrategy = .noauth
        let transport = try JSONRPCTransport(config: config, logger: Logger(label: "client"))
        await #expect(throws: ConductorUnreachable.self) {
            _ = try await transport.call(
                .createNode, on: "127.0.0.1:\(try Cluster.freePort())",
                CreateNodeRequest(context: Self.context, node: Node(driver: "fake-hardware")), requestID: nil)
        }
        try await transport.shutdown()
    }

    @Test func tlsWithTheCAClientsTrust() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ironic-rpc-tls-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let cert = directory.appendingPathComponent("rpc.pem").path
        let key = directory.appendingPathComponent("rpc.key").path
        let openssl = try await ChildProcess.run("openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert,
        ])
        try #require(openssl.status == 0, "\(openssl.output)")

        try await Self.withListener(configure: {
            $0.jsonRPC.useSSL = true
            $0.jsonRPC.certFile = cert
            $0.jsonRPC.keyFile = key
        }) { config, _ in
            var trusting = config.jsonRPC
            trusting.cafile = cert
            let transport = try JSONRPCTransport(config: trusting, logger: Logger(label: "client"))
            let node = try await transport.call(
                .createNode, on: config.conductorHostname, CreateNodeRequest(context: Self.context, node: Node(driver: "fake-hardware")),
                requestID: nil)
            #expect(node.driver == "fake-hardware")
            try await transport.shutdown()

            // Without the CA the certificate is refused: no call goes through.
            let untrusting = try JSONRPCTransport(config: config.jsonRPC, logger: Logger(label: "client"))
            await #expect(throws: ConductorUnreachable.self) {
                _ = try await untrusting.call(
                    .createNode, on: config.conductorHostname,
                    CreateNodeRequest(context: Self.context, node: Node(driver: "fake-hardware")), requestID: nil)
            }
            try await untrusting.shutdown()
        }
    }
}
