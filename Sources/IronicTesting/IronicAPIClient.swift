import Core
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Anything tests talk to over Ironic's REST API: the in-process `TestServer`, or the API
/// process of a `Cluster`.
public protocol IronicAPIClient: Sendable {
    /// `http://127.0.0.1:PORT`.
    var baseURL: String { get }
    /// The session requests go through: one per server, so that a kept-alive connection to
    /// a server that has stopped is never reused for a later server the kernel gave the
    /// same port.
    var urlSession: URLSession { get }
}

extension IronicAPIClient {
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
        let (data, response) = try await urlSession.data(for: request)
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
