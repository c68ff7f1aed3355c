import AsyncHTTPClient
import Core
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// A client of ironic-python-agent's REST API (`POST /v1/commands/`, `GET /v1/commands/`) at
/// the node's `driver_internal_info.agent_url`, sending the node's agent token on every call
/// and trusting the agent's own CA (`agent_verify_ca`) when it sent one.
///
/// Calls never block a thread: commands that take long (`standby.prepare_image`,
/// `clean.execute_clean_step`) are started with `wait: false` and their state is read on a
/// later heartbeat with `commands(_:)`.
///
/// An agent that refuses connections (its ramdisk is down) is tried three times, a second
/// apart, as Ironic's `[agent] max_command_attempts` does, rather than until the call's
/// timeout: the caller holds the node's lock meanwhile.
public struct AgentClient: RamdiskAgentClient {
    /// Connection attempts before an unreachable agent is reported.
    static let connectionAttempts = 3
    /// The pause between them.
    static let attemptInterval: Duration = .seconds(1)
    /// Calls to agents without a CA of their own; connection failures end the attempt at once.
    static let plainClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration())

    let timeout: Duration
    let logger: Logger

    /// A client whose calls give up after `timeout` (`[agent] command_timeout`).
    public init(timeout: Duration, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    public func run(_ command: String, params: [String: JSONValue], wait: Bool, task: NodeTask) async throws -> AgentCommandStatus {
        let body = JSONValue.object(["name": .string(command), "params": .object(params)])
        let reply = try await call(.POST, "v1/commands/", query: ["wait": wait ? "true" : "false"], body: body, task: task)
        guard let status = Self.status(from: reply) else {
            throw AgentError.badReply("the agent's answer to \(command) is not a command status: \(reply.serialized())")
        }
        return status
    }

    public func commands(_ task: NodeTask) async throws -> [AgentCommandStatus] {
        let reply = try await call(.GET, "v1/commands/", query: [:], body: nil, task: task)
        guard let list = reply.objectValue?["commands"]?.arrayValue else {
            throw AgentError.badReply("the agent's command list is not {\"commands\": [...]}: \(reply.serialized())")
        }
        return list.compactMap(Self.status(from:))
    }

    /// One command status from IPA's JSON (`command_name`, `command_status`, `command_error`,
    /// `command_result`).
    static func status(from json: JSONValue) -> AgentCommandStatus? {
        guard let object = json.objectValue, let name = object["command_name"]?.stringValue,
            let raw = object["command_status"]?.stringValue, let status = AgentCommandStatus.Status(rawValue: raw)
        else { return nil }
        var error: String?
        if let failure = object["command_error"], failure != .null {
            if let details = failure.objectValue {
                error = details["message"]?.stringValue.map { message in
                    let more = details["details"]?.stringValue ?? ""
                    return more.isEmpty || more == message ? message : "\(message): \(more)"
                } ?? failure.serialized()
            } else {
                error = failure.stringValue ?? failure.serialized()
            }
        }
        let result = object["command_result"].flatMap { $0 == .null ? nil : $0 }
        return AgentCommandStatus(name: name, status: status, error: error, result: result)
    }

    private func call(_ method: HTTPMethod, _ path: String, query: [String: String], body: JSONValue?, task: NodeTask) async throws -> JSONValue {
        let info = task.node.driverInternalInfo
        guard let base = info["agent_url"]?.stringValue, !base.isEmpty else {
            throw AgentError.noAgent("Node \(task.node.uuid) has no agent_url: its ramdisk has not heartbeated yet.")
        }
        var items = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        if let token = info["agent_secret_token"]?.stringValue { items.append(URLQueryItem(name: "agent_token", value: token)) }
        var components = URLComponents(string: base.hasSuffix("/") ? base + path : base + "/" + path)
        components?.queryItems = items
        guard let url = components?.string else { throw AgentError.noAgent("Node \(task.node.uuid) has an invalid agent_url \(base).") }

        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: Array(body.serialized().utf8)))
        }
        let client = try makeClient(caPEM: info["agent_verify_ca"]?.stringValue)
        let deadline = ContinuousClock.now + timeout
        var attempt = 1
        var answer: (response: HTTPClientResponse, bytes: ByteBuffer)?
        while answer == nil {
            do {
                let (seconds, attoseconds) = (deadline - ContinuousClock.now).components
                let response = try await client.execute(request, timeout: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
                answer = (response, try await response.body.collect(upTo: 16 * 1024 * 1024))
            } catch {
                let what = body == nil ? "listing its commands" : "invoking command \(body?.objectValue?["name"]?.stringValue ?? path)"
                guard Self.isConnectionFailure(error), attempt < Self.connectionAttempts,
                    deadline - ContinuousClock.now > Self.attemptInterval
                else {
                    if client !== Self.plainClient { try? await client.shutdown() }
                    throw AgentError.unreachable("Failed to connect to the agent running on node \(task.node.uuid) for \(what). Error: \(error)")
                }
                attempt += 1
                try await Task.sleep(for: Self.attemptInterval)
            }
        }
        if client !== Self.plainClient { try? await client.shutdown() }
        guard let (response, bytes) = answer else { throw AgentError.badReply("no answer") }
        let text = String(buffer: bytes)
        let json = (try? JSONValue.parse(Array(text.utf8))) ?? .string(text)
        guard (200..<300).contains(Int(response.status.code)) else {
            // IPA's errors are `{"faultcode": ..., "faultstring": ...}`; older ones `message`/`details`.
            let object = json.objectValue
            let message = object?["faultstring"]?.stringValue ?? object?["message"]?.stringValue ?? text
            let details = object?["details"]?.stringValue ?? ""
            throw AgentError.refused(status: Int(response.status.code), message: details.isEmpty ? message : "\(message) \(details)")
        }
        return json
    }

    /// A failure to reach the agent at all (refused, reset before an answer, no route), as
    /// opposed to a timeout of a call it accepted.
    static func isConnectionFailure(_ error: any Error) -> Bool {
        if let error = error as? HTTPClientError {
            return error != .deadlineExceeded && error != .readTimeout && error != .cancelled
        }
        return error is IOError || error is ChannelError
    }

    static func configuration() -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(5)
        return configuration
    }

    private func makeClient(caPEM: String?) throws -> HTTPClient {
        guard let caPEM, !caPEM.isEmpty else { return Self.plainClient }
        var tls = TLSConfiguration.makeClientConfiguration()
        let pem = caPEM.contains("BEGIN CERTIFICATE") ? caPEM : ((try? String(contentsOfFile: caPEM, encoding: .utf8)) ?? caPEM)
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))
        var configuration = Self.configuration()
        configuration.tlsConfiguration = tls
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}

/// What went wrong talking to a ramdisk agent.
public enum AgentError: Error, Sendable, CustomStringConvertible {
    /// The node has no agent to talk to (no heartbeat yet).
    case noAgent(String)
    /// The agent did not answer (down, network, timeout).
    case unreachable(String)
    /// The agent answered with an error status (bad token, busy, unknown command).
    case refused(status: Int, message: String)
    /// The agent answered something that is not IPA's shape.
    case badReply(String)

    public var description: String {
        switch self {
        case .noAgent(let message), .unreachable(let message), .badReply(let message): message
        case .refused(let status, let message): "The agent refused the command (HTTP \(status)): \(message)"
        }
    }
}
