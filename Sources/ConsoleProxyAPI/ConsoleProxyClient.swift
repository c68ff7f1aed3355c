import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// How a client proves itself to the proxy.
public enum ProxyCredentials: Sendable, Hashable {
    /// No credentials (a proxy configured with `auth_strategy = noauth`).
    case none
    /// The shared token, sent as `X-Auth-Token`.
    case token(String)
    /// HTTP basic authentication.
    case basic(username: String, password: String)
}

/// A failed call to the proxy: its HTTP status (0 when it could not be reached) and message.
public struct ConsoleProxyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// HTTP status, or 0 when the proxy did not answer.
    public var status: Int
    /// The proxy's message, or the transport's.
    public var message: String

    /// Creates an error.
    public init(status: Int, message: String) {
        self.status = status
        self.message = message
    }

    /// Whether the proxy could not be reached at all.
    public var isUnreachable: Bool { status == 0 }

    /// `HTTP status: message`.
    public var description: String { status == 0 ? message : "HTTP \(status): \(message)" }
}

/// A small client for one proxy's REST API (`/v1/consoles`).
///
/// ```swift
/// let proxy = ConsoleProxyClient(baseURL: URL(string: "http://127.0.0.1:6387")!, credentials: .token("s3cret"))
/// let console = try await proxy.create(ConsoleRequest(nodeUUID: uuid, bmc: bmc))
/// print(console.endpoints.tcp)   // tcp://127.0.0.1:10000
/// ```
public struct ConsoleProxyClient: Sendable {
    /// The proxy, e.g. `http://127.0.0.1:6387`.
    public let baseURL: URL
    /// What the client sends to authenticate.
    public let credentials: ProxyCredentials
    /// How long one request may take.
    public let timeout: Duration

    /// Creates a client.
    public init(baseURL: URL, credentials: ProxyCredentials = .none, timeout: Duration = .seconds(30)) {
        self.baseURL = baseURL
        self.credentials = credentials
        self.timeout = timeout
    }

    /// `POST /v1/consoles`.
    public func create(_ request: ConsoleRequest) async throws(ConsoleProxyError) -> ConsoleRecord {
        try decode(ConsoleRecord.self, try await send("POST", "v1/consoles", body: encode(request), expect: [201]))
    }

    /// `GET /v1/consoles`, optionally only those of `nodeUUID`.
    public func list(nodeUUID: String? = nil) async throws(ConsoleProxyError) -> [ConsoleRecord] {
        let query = nodeUUID.map { "?node_uuid=\($0)" } ?? ""
        return try decode(ConsoleList.self, try await send("GET", "v1/consoles\(query)", expect: [200])).consoles
    }

    /// `GET /v1/consoles/{id}`; nil when the proxy has no such console.
    public func get(_ id: String) async throws(ConsoleProxyError) -> ConsoleRecord? {
        let data = try await send("GET", "v1/consoles/\(id)", expect: [200, 404])
        if data.status == 404 { return nil }
        return try decode(ConsoleRecord.self, data)
    }

    /// `DELETE /v1/consoles/{id}`; true when it existed.
    @discardableResult
    public func delete(_ id: String) async throws(ConsoleProxyError) -> Bool {
        try await send("DELETE", "v1/consoles/\(id)", expect: [204, 404]).status == 204
    }

    /// `GET /v1/consoles/{id}/log`: the buffered console output.
    public func log(_ id: String) async throws(ConsoleProxyError) -> [UInt8] {
        Array(try await send("GET", "v1/consoles/\(id)/log", expect: [200]).body)
    }

    /// `GET /healthz`: whether the proxy answers.
    public func isHealthy() async -> Bool {
        (try? await send("GET", "healthz", expect: [200])) != nil
    }

    struct Reply {
        var status: Int
        var body: Data
    }

    func send(_ method: String, _ path: String, body: Data? = nil, expect: Set<Int>) async throws(ConsoleProxyError) -> Reply {
        guard let url = URL(string: path, relativeTo: baseURL.absoluteString.hasSuffix("/") ? baseURL : baseURL.appendingPathComponent(""))
        else { throw ConsoleProxyError(status: 0, message: "Bad proxy URL \(baseURL)/\(path).") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = Double(timeout.components.seconds) + 1
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        switch credentials {
        case .none: break
        case .token(let token): request.setValue(token, forHTTPHeaderField: "X-Auth-Token")
        case .basic(let username, let password):
            let encoded = Data("\(username):\(password)".utf8).base64EncodedString()
            request.setValue("Basic \(encoded)", forHTTPHeaderField: "Authorization")
        }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await Self.session.data(for: request)
        } catch {
            throw ConsoleProxyError(status: 0, message: "Console proxy \(baseURL.absoluteString) unreachable: \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard expect.contains(status) else {
            let message = (try? JSONDecoder().decode(ProxyErrorBody.self, from: data))?.error.message
                ?? String(decoding: data.prefix(500), as: UTF8.self)
            throw ConsoleProxyError(status: status, message: "Console proxy \(baseURL.absoluteString): \(message)")
        }
        return Reply(status: status, body: data)
    }

    /// The session every proxy call goes through. Foundation's shared session allows 6
    /// connections per host, which queues a conductor's calls when it starts or stops many
    /// consoles at once (200 at once made the last ones time out); this one allows 64.
    static let session: URLSession = {
        let configuration = URLSessionConfiguration.default
        configuration.httpMaximumConnectionsPerHost = 64
        return URLSession(configuration: configuration)
    }()

    private func encode<T: Encodable>(_ value: T) throws(ConsoleProxyError) -> Data {
        do { return try JSONEncoder().encode(value) } catch {
            throw ConsoleProxyError(status: 0, message: "Cannot encode the request: \(error)")
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, _ reply: Reply) throws(ConsoleProxyError) -> T {
        do { return try JSONDecoder().decode(type, from: reply.body) } catch {
            throw ConsoleProxyError(status: reply.status, message: "Unexpected answer from the console proxy: \(error)")
        }
    }
}
