import AsyncHTTPClient
import Core
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import ServiceLifecycle

/// The HTTP side of JSON-RPC calls to conductors: one pooled, keep-alive HTTP client for the
/// whole process, with `[json_rpc]` credentials, TLS settings and timeout.
///
/// It is a `Service`: run it in the process's `ServiceGroup`, which shuts the client down on
/// the way out (or call `shutdown()` when not running it).
public final class JSONRPCTransport: Service, Sendable {
    private let client: HTTPClient
    private let config: JSONRPCConfig
    private let authorization: String?
    private let logger: Logger

    /// Creates the client from `[json_rpc]`.
    public init(config: JSONRPCConfig, logger: Logger) throws {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5))
        if config.clientScheme == "https" {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let cafile = config.cafile { tls.trustRoots = .file(cafile) }
            if config.insecure { tls.certificateVerification = .none }
            configuration.tlsConfiguration = tls
        }
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.config = config
        self.logger = logger
        switch config.authStrategy {
        case .noauth:
            authorization = nil
        case .httpBasic:
            guard let username = config.username, let password = config.password else {
                try? client.syncShutdown()
                throw ConfigError(
                    source: "[json_rpc] auth_strategy",
                    message: "http_basic needs [json_rpc] username and password (or auth_strategy = noauth)")
            }
            authorization = "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
        }
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await shutdown()
    }

    /// Closes every connection.
    public func shutdown() async throws {
        try await client.shutdown()
    }

    /// The URL of a conductor registered as `hostname` (`host` or `host:port`, as Ironic
    /// registers conductors whose JSON-RPC port is not the default).
    func url(of hostname: String) -> String {
        let host: String
        var port = config.port
        if let colon = hostname.lastIndex(of: ":"), let parsed = Int(hostname[hostname.index(after: colon)...]),
            !hostname[..<colon].contains(":")
        {
            host = String(hostname[..<colon])
            port = parsed
        } else {
            host = hostname.contains(":") ? "[\(hostname)]" : hostname
        }
        return "\(config.clientScheme)://\(host):\(port)/"
    }

    /// Calls `method` on the conductor `hostname`. Ironic errors come back as the same
    /// `IronicError`; a conductor that cannot be reached throws `ConductorUnreachable`.
    public func call<P, R>(_ method: ConductorMethod<P, R>, on hostname: String, _ params: P, requestID: String?) async throws -> R {
        var request = HTTPClientRequest(url: url(of: hostname))
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        let body = try JSONRPC.makeEncoder().encode(JSONRPCRequest(method: method.name, params: params, id: requestID ?? UUID().uuidString))
        request.body = .bytes(ByteBuffer(bytes: body))
        let status: HTTPResponseStatus
        let reply: ByteBuffer
        do {
            let response = try await client.execute(request, timeout: .milliseconds(config.timeout.milliseconds))
            status = response.status
            reply = try await response.body.collect(upTo: 64 << 20)
        } catch {
            logger.warning("JSON-RPC call failed", metadata: ["method": "\(method.name)", "conductor": "\(hostname)", "error": "\(error)"])
            throw ConductorUnreachable(hostname: hostname, method: method.name, reason: "\(error)")
        }
        guard status == .ok else {
            throw IronicError(
                status: status == .unauthorized || status == .forbidden ? 500 : 503, code: "JsonRpcError",
                message: "Conductor \(hostname) answered \(method.name) with HTTP \(status.code)\(status == .unauthorized ? ": check [json_rpc] username and password" : "")")
        }
        let decoded: JSONRPCResponse<R>
        do {
            decoded = try JSONRPC.makeDecoder().decode(JSONRPCResponse<R>.self, from: Data(reply.readableBytesView))
        } catch {
            throw IronicError(status: 500, code: "JsonRpcError", message: "Conductor \(hostname) sent an unreadable reply to \(method.name): \(error)")
        }
        if let error = decoded.error { throw error.ironicError }
        if let result = decoded.result { return result }
        if let void = RPCVoid() as? R { return void }
        throw IronicError(status: 500, code: "JsonRpcError", message: "Conductor \(hostname) sent an empty reply to \(method.name)")
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

/// No connection to a conductor (refused, reset, timed out). It is a 503 at the API: the
/// conductor may be restarting, or dead and about to lose its nodes to the others.
public struct ConductorUnreachable: Error, Sendable {
    public var hostname: String
    public var method: String
    public var reason: String

    /// The error API clients see.
    public var ironicError: IronicError {
        IronicError(
            status: 503, code: "TemporaryFailure",
            message: "Conductor \(hostname) could not be reached for \(method): \(reason). Retry in a moment; if the conductor is gone, its nodes move to another conductor within [conductor] heartbeat_timeout.")
    }
}
