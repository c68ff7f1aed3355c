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
        // The in-process console proxy on a free port: test servers run side by side.
        config.document.set("ipmiproxy", "port", "0")
        configure(&config)
        var logger = ServiceFactory.makeLogger("ironic-test", config)
        logger.logLevel = ProcessInfo.processInfo.environment["IRONIC_TEST_LOG"] == nil ? .critical : .debug
        let server = try await StandaloneServer(config: config, logger: logger)
        let runTask = Task { try await server.run() }
        let port = await server.listeningPort()
        return TestServer(server: server, baseURL: "http://127.0.0.1:\(port)", directory: directory, runTask: runTask)
    }

    /// Stops the service gracefully and, unless `keepDirectory`, removes its directory.
    public func stop(keepDirectory: Bool = false) async {
        await server.shutdown()
        _ = try? await runTask.value
        if !keepDirectory { try? FileManager.default.removeItem(at: directory) }
    }

    /// Sends a request; `version` goes in `X-OpenStack-Ironic-API-Version` (nil: no header).
    public func request(_ method: String, _ path: String, json body: JSONValue? = nil, rawBody: String? = nil,
                        version: String? = "1.78", headers: [String: String] = [:]) async throws -> TestResponse {
        var request = URLRequest(url: URL(string: baseURL + path)!)
        request.httpMethod = method
        if let version { request.setValue(version, forHTTPHeaderField: "X-OpenStack-Ironic-API-Version") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let body {
            request.httpBody = Data(body.serialized().utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        } else if let rawBody {
            request.httpBody = Data(rawBody.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        var fields: [String: String] = [:]
        for (key, value) in http.allHeaderFields {
            if let key = key as? String, let value = value as? String { fields[key.lowercased()] = value }
        }
        return TestResponse(status: http.statusCode, headers: fields, body: data)
    }

    /// Polls a node until `done` holds for it, or fails after `timeout`.
    @discardableResult
    public func waitForNode(_ ident: String, timeout: Duration = .seconds(10),
                            until done: (JSONValue) -> Bool) async throws -> JSONValue {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var last: JSONValue = .null
        while clock.now < deadline {
            last = try await request("GET", "/v1/nodes/\(ident)").json()
            if done(last) { return last }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestServerError.timedOut("node \(ident) did not reach the expected state; last seen: \(last.serialized())")
    }

    /// Creates a fake-hardware node and returns its JSON.
    public func createNode(_ extra: [String: JSONValue] = [:]) async throws -> JSONValue {
        var body: [String: JSONValue] = ["driver": "fake-hardware"]
        body.merge(extra) { _, new in new }
        let response = try await request("POST", "/v1/nodes", json: .object(body))
        guard response.status == 201 else {
            throw TestServerError.unexpected("node create answered \(response.status): \(response.text)")
        }
        return try response.json()
    }

    /// Runs a provision verb and waits until the node settles (no target state).
    @discardableResult
    public func provision(_ ident: String, _ target: String, extra: [String: JSONValue] = [:]) async throws -> JSONValue {
        var body: [String: JSONValue] = ["target": .string(target)]
        body.merge(extra) { _, new in new }
        let response = try await request("PUT", "/v1/nodes/\(ident)/states/provision", json: .object(body))
        guard response.status == 202 else {
            throw TestServerError.unexpected("provision \(target) answered \(response.status): \(response.text)")
        }
        return try await waitForNode(ident) { $0["target_provision_state"] == .null && $0["reservation"] == .null }
    }
}

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
