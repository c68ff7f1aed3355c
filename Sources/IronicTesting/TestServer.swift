import Core
import Foundation
import Server

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A real all-in-one service for tests: API and conductor in-process over SQLite in a fresh
/// temporary directory, listening on a random loopback port.
public final class TestServer: Sendable {
    /// The running service.
    public let server: StandaloneServer
    /// `http://127.0.0.1:PORT`.
    public let baseURL: String
    /// The temporary directory holding the database.
    public let directory: URL
    /// This server's own HTTP session.
    public let urlSession = URLSession(configuration: .ephemeral)
    private let runTask: Task<Void, any Error>

    private init(server: StandaloneServer, baseURL: String, directory: URL, runTask: Task<Void, any Error>) {
        self.server = server
        self.baseURL = baseURL
        self.directory = directory
        self.runTask = runTask
    }

    /// Starts a service; `configure` adjusts the test defaults (fake-hardware, fast heartbeats).
    public static func start(directory: URL? = nil, configure: (inout IronicConfig) -> Void = { _ in }) async throws -> TestServer {
        let directory = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("ironic-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var config = IronicConfig()
        config.host = "test-conductor-\(UUID().uuidString.prefix(8).lowercased())"
        config.api.hostIP = "127.0.0.1"
        config.api.port = 0
        config.database.connection = "sqlite:///\(directory.path)/ironic.sqlite"
        config.conductor.heartbeatInterval = .seconds(1)
        config.conductor.nodeLockedRetryInterval = .milliseconds(100)
        // Boot files stay in the test's directory; test servers share no boot file server port.
        config.deploy.httpRoot = directory.appendingPathComponent("httpboot").path
        config.deploy.httpServerHost = ""
        // The in-process console proxy on a free port: test servers run side by side.
        config.document.set("ipmiproxy", "port", "0")
        configure(&config)
        var logger = ServiceFactory.makeLogger("ironic-test", config)
        logger.logLevel = ProcessInfo.processInfo.environment["IRONIC_TEST_LOG"] == nil ? .critical : .debug
        let server = try await StandaloneServer(config: config, logger: logger)
        let runTask = Task {
            do { try await server.run() } catch {
                // Its requests now fail with "connection refused": say why in the test log.
                FileHandle.standardError.write(Data("TestServer \(config.host) stopped on its own: \(error)\n".utf8))
                throw error
            }
        }
        let port = await server.listeningPort()
        return TestServer(server: server, baseURL: "http://127.0.0.1:\(port)", directory: directory, runTask: runTask)
    }

    /// Stops the service gracefully and, unless `keepDirectory`, removes its directory.
    public func stop(keepDirectory: Bool = false) async {
        await server.shutdown()
        _ = try? await runTask.value
        urlSession.finishTasksAndInvalidate()
        if !keepDirectory { try? FileManager.default.removeItem(at: directory) }
    }
}

extension TestServer: IronicAPIClient {}

/// A response as tests see it.
public struct TestResponse: Sendable {
    public let status: Int
    /// Header names in lower case.
    public let headers: [String: String]
    public let body: Data

    /// The body as text.
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as JSON.
    public func json() throws -> JSONValue { try JSONValue.parse(Array(body)) }

    /// The decoded inner error document of an Ironic error body (`faultstring`, `faultcode`).
    public func fault() throws -> JSONValue {
        guard let inner = try json()["error_message"]?.stringValue else {
            throw TestServerError.unexpected("not an Ironic error body: \(text)")
        }
        return try JSONValue.parse(Array(inner.utf8))
    }

    /// `faultstring` of an Ironic error body.
    public func faultString() throws -> String { try fault()["faultstring"]?.stringValue ?? "" }
}

/// Failures of the test helpers themselves.
public enum TestServerError: Error, CustomStringConvertible {
    case timedOut(String)
    case unexpected(String)

    public var description: String {
        switch self {
        case .timedOut(let message), .unexpected(let message): message
        }
    }
}
