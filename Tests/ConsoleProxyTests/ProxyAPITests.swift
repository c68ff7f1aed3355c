import ConsoleProxy
import ConsoleProxyAPI
import Core
import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Raw HTTP against the proxy: status and JSON error body for bad input, never a crash.
func call(_ proxy: ProxyHarness, _ method: String, _ path: String, body: String? = nil, headers: [String: String]? = nil)
    async throws -> (Int, String)
{
    var request = URLRequest(url: URL(string: "http://127.0.0.1:\(proxy.port)\(path)")!)
    request.httpMethod = method
    if let body { request.httpBody = Data(body.utf8) }
    if let headers {
        for (key, value) in headers { request.setValue(value, forHTTPHeaderField: key) }
    } else if case .token(let token) = proxy.client.credentials {
        request.setValue(token, forHTTPHeaderField: "X-Auth-Token")
    }
    let (data, response) = try await URLSession.shared.data(for: request)
    return ((response as! HTTPURLResponse).statusCode, String(decoding: data, as: UTF8.self))
}

@Suite struct ProxyAPITests {
    static let node = "0f0e5bd2-6d65-4f55-9a37-2a6f2d3d0c11"
    static func body(_ bmc: String, options: String = "{}") -> String {
        "{\"node_uuid\": \"\(node)\", \"bmc\": \(bmc), \"options\": \(options)}"
    }

    @Test(arguments: [
        ("", "empty"),
        ("{not json", "not valid JSON"),
        ("{\"bmc\": {\"address\": \"127.0.0.1\"}}", "Missing field 'node_uuid'"),
        ("{\"node_uuid\": \"abc\", \"bmc\": {\"address\": \"127.0.0.1\"}}", "is not a UUID"),
        ("{\"node_uuid\": \"\(node)\"}", "Missing field 'bmc'"),
        (body("{\"address\": \"\"}"), "bmc.address"),
        (body("{\"address\": \"127.0.0.1\", \"port\": 70000}"), "bmc.port 70000"),
        (body("{\"address\": \"127.0.0.1\", \"port\": \"623\"}"), "Field 'bmc.port' has the wrong type"),
        (body("{\"address\": \"127.0.0.1\", \"privilege_level\": \"ROOT\"}"), "privilege_level"),
        (body("{\"address\": \"127.0.0.1\", \"workarounds\": [\"bogus\"]}"), "Unknown FreeIPMI workaround(s): bogus"),
        (body("{\"address\": \"127.0.0.1\", \"cipher_suite\": 5}"), "Cipher suite 5"),
        (body("{\"address\": \"127.0.0.1\", \"password\": \"123456789012345678901\"}"), "longer than 20 bytes"),
        (body("{\"address\": \"127.0.0.1\"}", options: "{\"log_size\": 10}"), "options.log_size 10"),
        (body("{\"address\": \"127.0.0.1\"}", options: "{\"tcp_port\": 80}"), "outside the proxy's port_range"),
    ])
    func badCreateRequestsGet400(body: String, expected: String) async throws {
        try await withProxy { proxy in
            let (status, text) = try await call(proxy, "POST", "/v1/consoles", body: body)
            #expect(status == 400, "\(text)")
            let error = try JSONDecoder().decode(ProxyErrorBody.self, from: Data(text.utf8))
            #expect(error.error.code == 400)
            #expect(error.error.message.contains(expected), "\(error.error.message)")
            #expect(try await proxy.client.list().isEmpty)
        }
    }

    @Test func unknownConsolesAndRoutesGet404AndAuthIsRequired() async throws {
        try await withProxy { proxy in
            for (method, path) in [("GET", "/v1/consoles/nope"), ("DELETE", "/v1/consoles/nope"), ("GET", "/v1/consoles/nope/log"), ("GET", "/v2/x")] {
                let (status, text) = try await call(proxy, method, path)
                #expect(status == 404, "\(method) \(path): \(text)")
                #expect(text.contains("\"code\":404"), "\(text)")
            }
            let (status, text) = try await call(proxy, "GET", "/v1/consoles", headers: [:])
            #expect(status == 401 && text.contains("X-Auth-Token"), "\(text)")
            #expect(try await call(proxy, "GET", "/v1/consoles", headers: ["X-Auth-Token": "wrong"]).0 == 401)
            #expect(try await call(proxy, "GET", "/v1/consoles", headers: ["Authorization": "Bearer wrong"]).0 == 401)
            // Health and metrics need no credentials.
            #expect(try await call(proxy, "GET", "/healthz", headers: [:]).0 == 200)
            let metrics = try await call(proxy, "GET", "/metrics", headers: [:])
            #expect(metrics.0 == 200 && metrics.1.contains("ironic_ipmiproxy_consoles{state=\"running\"} 0"), "\(metrics.1)")
        }
    }

    @Test func duplicateNodeConflictsAndUnreachableBMCRetriesThenErrors() async throws {
        try await withProxy(configure: {
            $0.maxRestarts = 1
            $0.solSessionTimeout = .seconds(2)
            $0.solKeepalive = .seconds(1)
        }) { proxy in
            // Nothing answers IPMI on this port: SOL times out, is retried once, then gives up.
            let request = ConsoleRequest(
                nodeUUID: Self.node, bmc: BMCEndpoint(address: "127.0.0.1", port: 9, username: "admin", password: "x"))
            let created = try await proxy.client.create(request)
            do {
                _ = try await proxy.client.create(request)
                Issue.record("a second console for the same node was accepted")
            } catch let error as ConsoleProxyError {
                #expect(error.status == 409 && error.message.contains(created.id), "\(error)")
            }
            let failed = try #require(await proxy.waitFor(created.id, timeout: .seconds(60)) { $0.state == .error })
            #expect(failed.restarts == 1, "\(failed)")
            #expect(failed.lastError?.contains("Gave up after 2") == true, "\(failed.lastError ?? "")")
            let metrics = try await call(proxy, "GET", "/metrics", headers: [:]).1
            #expect(metrics.contains("ironic_ipmiproxy_consoles{state=\"error\"} 1"), "\(metrics)")
            do {
                _ = try await proxy.client.log(created.id)
            } catch {
                Issue.record("log of a console in error: \(error)")
            }
            try await proxy.client.delete(created.id)
            #expect(try await proxy.client.list().isEmpty)
        }
    }

    @Test func loggingOffAnswers409AndBasicAuthWorks() async throws {
        try await withProxy(configure: {
            $0.authStrategy = .httpBasic
            $0.httpBasicUsername = "conductor"
            $0.httpBasicPassword = "secret"
            $0.maxRestarts = 0
            $0.solSessionTimeout = .seconds(2)
            $0.solKeepalive = .seconds(1)
        }) { proxy in
            let (status, _) = try await call(proxy, "GET", "/v1/consoles", headers: [:])
            #expect(status == 401)
            let created = try await proxy.client.create(
                ConsoleRequest(
                    nodeUUID: Self.node, bmc: BMCEndpoint(address: "127.0.0.1", port: 9), options: ConsoleOptions(log: false)))
            #expect(created.logEnabled == false)
            do {
                _ = try await proxy.client.log(created.id)
                Issue.record("log of a console without logging")
            } catch let error as ConsoleProxyError {
                #expect(error.status == 409 && error.message.contains("disabled"), "\(error)")
            }
        }
    }

    @Test func configurationErrorsNameTheOption() throws {
        func parse(_ text: String) throws -> ProxyConfig { try ProxyConfig(ini: try INIFile(parsing: "[ipmiproxy]\n" + text)) }
        #expect(throws: ConfigError.self) { try parse("auth_strategy = token") }
        #expect(throws: ConfigError.self) { try parse("auth_strategy = magic") }
        #expect(throws: ConfigError.self) { try parse("auth_strategy = noauth\nport_range = 10") }
        #expect(throws: ConfigError.self) { try parse("auth_strategy = noauth\nsol_session_timeout = 10\nsol_keepalive = 20") }
        #expect(throws: ConfigError.self) { try parse("auth_strategy = noauth\ncert_file = /x.pem") }
        let config = try parse("auth_token = s3cret\nport = 7000\nport_range = 30000:30100\nlog_size = 4096")
        #expect(config.port == 7000 && config.portRange == 30000...30100 && config.logSize == 4096 && config.authToken == "s3cret")
    }
}
