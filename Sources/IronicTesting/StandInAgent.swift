import Core
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A stand-in for ironic-python-agent's REST API on 127.0.0.1, for tests of the conductor's
/// side of agent provisioning: the conductor, API and database are real, only the ramdisk is
/// played by the test.
///
/// It serves `POST /v1/commands/` and `GET /v1/commands/` as IPA does: commands are answered
/// in IPA's shape (`id`, `command_name` without the extension, `command_status`,
/// `command_error`, `command_result`), a wrong or missing `agent_token` query parameter is a
/// 401 `{"faultcode": "Client", "faultstring": "401 Unauthorized: Token invalid."}`, a
/// command while the last one still runs is a 409 (agent busy). Every command succeeds at
/// once unless `answer(_:with:)` says otherwise. Every request is recorded in `calls`.
///
/// `lookup(api:mac:node:)` and `heartbeat(api:node:)` do the ramdisk's side against the API.
///
/// ```swift
/// let agent = try await StandInAgent.start()
/// agent.answer("prepare_image", with: .hold)
/// _ = try await agent.lookup(api: server, mac: "52:54:00:aa:bb:01", node: uuid)
/// _ = try await agent.heartbeat(api: server, node: uuid)
/// _ = try await agent.waitForCommand("standby.prepare_image", timeout: .seconds(10))
/// try agent.finish("prepare_image")
/// ```
public final class StandInAgent: Sendable {
    /// How the agent answers a command.
    public enum Answer: Sendable {
        /// `SUCCEEDED` at once, with this `command_result`.
        case succeed(result: JSONValue? = nil)
        /// `FAILED` at once, `command_error` being IPA's serialized exception.
        case fail(message: String, details: String = "", type: String = "CommandExecutionError")
        /// `RUNNING` until `finish(_:result:)` or `fail(_:message:details:)`; a `wait=true`
        /// request gets its answer only then.
        case hold
        /// Answered (`SUCCEEDED`) only after this long: a slow synchronous command, during
        /// which the conductor keeps waiting for the HTTP answer.
        case slow(Duration)
        /// Never answered while the agent runs: a hung agent.
        case silent
        /// HTTP 200 with this text, which is not JSON.
        case notJSON(String)
    }

    /// One request the agent received on `/v1/commands/`.
    public struct Call: Sendable, Hashable {
        /// `POST` (run a command) or `GET` (list them).
        public var method: String
        /// The command's full name (`standby.prepare_image`); nil for a `GET`.
        public var command: String?
        /// The command's `params`.
        public var params: [String: JSONValue]
        /// The `wait` query parameter.
        public var wait: Bool
        /// The `agent_token` query parameter, as sent.
        public var token: String?
        /// The HTTP status answered (or to be answered); nil when the call is never answered.
        public var status: Int?
    }

    /// `http://127.0.0.1:PORT`: the `callback_url` heartbeats send.
    public let url: String
    /// The version heartbeats report (`agent_version`).
    public let agentVersion = "13.0.0"
    let state: StandInAgentState
    private let group: ServiceGroup
    private let runTask: Task<Void, Never>

    private init(url: String, state: StandInAgentState, group: ServiceGroup, runTask: Task<Void, Never>) {
        self.url = url
        self.state = state
        self.group = group
        self.runTask = runTask
    }

    /// Starts an agent on a free port; it accepts commands carrying `token` (nil: until a
    /// lookup hands one out, commands without a token are accepted, as by IPA).
    public static func start(token: String? = nil) async throws(StandInAgentError) -> StandInAgent {
        let state = StandInAgentState(token: token)
        var logger = Logger(label: "stand-in-agent")
        logger.logLevel = ProcessInfo.processInfo.environment["IRONIC_TEST_LOG"] == nil ? .critical : .debug
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            responder: StandInAgentResponder(state: state),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "ironic-python-agent"),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger)
        let group = ServiceGroup(services: [app], logger: logger)
        let runTask = Task {
            do { try await group.run() } catch { logger.error("stand-in agent stopped: \(error)") }
            continuation.finish()
            state.update { $0.finished = true }
        }
        for await port in ports where port > 0 {
            return StandInAgent(url: "http://127.0.0.1:\(port)", state: state, group: group, runTask: runTask)
        }
        throw .unexpected("the stand-in agent did not start listening")
    }

    /// Stops answering: held and silent requests end, then the server stops (cancelled if it
    /// has not within 5 s).
    public func stop() async {
        state.update { $0.stopping = true }
        await group.triggerGracefulShutdown()
        let deadline = ContinuousClock.now + .seconds(5)
        while !state.read(\.finished), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if !state.read(\.finished) { runTask.cancel() }
    }

    // MARK: Scripting the agent

    /// How to answer `command`: a bare name (`prepare_image`) matches it in any extension, a
    /// full name (`standby.prepare_image`) only there.
    public func answer(_ command: String, with answer: Answer) {
        state.update { $0.answers[command] = answer }
    }

    /// Ends the last running command named `name` (bare or full) with `SUCCEEDED`.
    public func finish(_ name: String, result: JSONValue? = nil) throws(StandInAgentError) {
        try state.end(name, status: "SUCCEEDED", error: nil, result: result)
    }

    /// Ends the last running command named `name` (bare or full) with `FAILED`.
    public func fail(_ name: String, message: String, details: String = "", type: String = "CommandExecutionError")
        throws(StandInAgentError)
    {
        try state.end(name, status: "FAILED", error: StandInAgentState.error(type: type, message: message, details: details), result: nil)
    }

    /// The token the agent accepts (set by `lookup(api:mac:node:)`).
    public var token: String? { state.read(\.token) }

    /// Every request received on `/v1/commands/`, oldest first.
    public var calls: [Call] { state.read(\.calls) }

    /// Full names of the commands the agent accepted, oldest first.
    public var commandNames: [String] { calls.filter { $0.method == "POST" && $0.status == 200 }.compactMap(\.command) }

    /// Waits until the `count`-th command named `name` (bare or full) has been received.
    @discardableResult
    public func waitForCommand(_ name: String, count: Int = 1, timeout: Duration) async throws -> Call {
        let deadline = ContinuousClock.now + timeout
        while true {
            let matching = calls.filter { $0.command.map { StandInAgentState.matches(name, $0) } ?? false }
            if matching.count >= count { return matching[count - 1] }
            guard ContinuousClock.now < deadline else {
                throw StandInAgentError.timedOut(
                    "command \(name) (#\(count)) did not reach the agent within \(timeout); it received: \(commandNames)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    // MARK: The ramdisk's side

    /// `GET /v1/lookup` for the node with `mac` (and `node`, as IPA sends both once it knows
    /// it); returns the agent token handed out, which the agent accepts from now on.
    public func lookup(api: some IronicAPIClient, mac: String, node: String? = nil) async throws -> String {
        let path = "/v1/lookup?addresses=\(mac)" + (node.map { "&node_uuid=\($0)" } ?? "")
        let response = try await api.request("GET", path, version: "1.68")
        guard response.status == 200 else { throw StandInAgentError.refused("lookup answered \(response.status): \(response.text)") }
        guard let token = try response.json()["config"]?["agent_token"]?.stringValue, token != "******" else {
            throw StandInAgentError.refused("lookup handed out no agent token: \(response.text)")
        }
        state.update { $0.token = token }
        return token
    }

    /// One `POST /v1/heartbeat/{node}` with this agent's URL, token and version.
    public func heartbeat(api: some IronicAPIClient, node: String) async throws -> TestResponse {
        var body: [String: JSONValue] = ["callback_url": .string(url), "agent_version": .string(agentVersion)]
        if let token { body["agent_token"] = .string(token) }
        return try await api.request("POST", "/v1/heartbeat/\(node)", json: .object(body), version: "1.68")
    }

    /// Heartbeats every 200 ms until one is accepted (202), as a ramdisk keeps heartbeating
    /// while no conductor takes them; returns the answers to those refused before, oldest first.
    @discardableResult
    public func heartbeatUntilAccepted(api: some IronicAPIClient, node: String, timeout: Duration) async throws -> [String] {
        let deadline = ContinuousClock.now + timeout
        var refused: [String] = []
        while ContinuousClock.now < deadline {
            let sent = ContinuousClock.now
            do {
                let response = try await heartbeat(api: api, node: node)
                if response.status == 202 { return refused }
                refused.append("\(response.status) after \(ContinuousClock.now - sent): \(response.text)")
            } catch {
                refused.append("\(error)")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw StandInAgentError.timedOut("no heartbeat accepted within \(timeout); answers: \(refused)")
    }
}

/// What went wrong with a stand-in agent.
public enum StandInAgentError: Error, Sendable, CustomStringConvertible {
    /// A wait ran out.
    case timedOut(String)
    /// No running command has that name.
    case noRunningCommand(String)
    /// The API refused the ramdisk's call.
    case refused(String)
    /// Anything else.
    case unexpected(String)

    /// What went wrong, for a test's failure message.
    public var description: String {
        switch self {
        case .timedOut(let message), .refused(let message), .unexpected(let message): message
        case .noRunningCommand(let name): "the stand-in agent runs no command named \(name)"
        }
    }
}

/// The agent's memory, shared by the test and the request handlers.
final class StandInAgentState: Sendable {
    /// A command as IPA keeps it in its command results.
    struct Command {
        var id = UUID().uuidString.lowercased()
        var name: String
        var status: String
        var error: JSONValue = .null
        var result: JSONValue = .null

        var json: JSONValue {
            [
                "id": .string(id), "command_name": .string(name), "command_status": .string(status), "command_error": error,
                "command_result": result,
            ]
        }
    }

    struct Contents {
        var token: String?
        /// IPA checks tokens on `GET` only once a `GET` carried one.
        var getTokenSeen = false
        var answers: [String: StandInAgent.Answer] = [:]
        var commands: [Command] = []
        var calls: [StandInAgent.Call] = []
        var stopping = false
        var finished = false
    }

    private let contents: Mutex<Contents>

    init(token: String?) { contents = Mutex(Contents(token: token)) }

    func update<T: Sendable, E: Error>(_ body: (inout Contents) throws(E) -> T) throws(E) -> T {
        try contents.withLock { (value: inout Contents) throws(E) -> T in try body(&value) }
    }

    func read<T: Sendable>(_ key: KeyPath<Contents, T>) -> T { contents.withLock { $0[keyPath: key] } }

    /// Whether `key` (a bare or full command name) names the command `full`.
    static func matches(_ key: String, _ full: String) -> Bool {
        key == full || (!key.contains(".") && key == bare(full))
    }

    /// `prepare_image` for `standby.prepare_image`.
    static func bare(_ full: String) -> String { full.split(separator: ".", maxSplits: 1).last.map(String.init) ?? full }

    /// IPA's serialized exception.
    static func error(type: String, message: String, details: String) -> JSONValue {
        ["type": .string(type), "code": 500, "message": .string(message), "details": .string(details)]
    }

    func end(_ name: String, status: String, error: JSONValue?, result: JSONValue?) throws(StandInAgentError) {
        try update { (contents: inout Contents) throws(StandInAgentError) in
            guard let index = contents.commands.lastIndex(where: { $0.status == "RUNNING" && Self.matches(name, $0.name) }) else {
                throw .noRunningCommand(name)
            }
            contents.commands[index].status = status
            contents.commands[index].error = error ?? .null
            contents.commands[index].result = result ?? .null
        }
    }
}

/// IPA's `/v1/commands/` over the agent's state.
struct StandInAgentResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let state: StandInAgentState

    func respond(to request: Request, context: Context) async throws -> Response {
        guard request.uri.path == "/v1/commands/" || request.uri.path == "/v1/commands" else {
            return Self.fault(.notFound, "404 Not Found: The requested URL was not found on the server.")
        }
        let query = request.uri.queryParameters
        let token = query["agent_token"].map(String.init)
        let wait = query["wait"]?.lowercased() == "true"
        switch request.method {
        case .get: return list(token: token)
        case .post: return try await run(request, token: token, wait: wait)
        default: return Self.fault(.methodNotAllowed, "405 Method Not Allowed: The method is not allowed for the requested URL.")
        }
    }

    private func list(token: String?) -> Response {
        let (allowed, commands) = state.update { contents in
            if token != nil { contents.getTokenSeen = true }
            let allowed = !contents.getTokenSeen || contents.token == token
            contents.calls.append(.init(method: "GET", params: [:], wait: false, token: token, status: allowed ? 200 : 401))
            return (allowed, contents.commands.map(\.json))
        }
        guard allowed else { return Self.fault(.unauthorized, "401 Unauthorized: Token invalid.") }
        return Self.json(.ok, ["commands": .array(commands)])
    }

    private func run(_ request: Request, token: String?, wait: Bool) async throws -> Response {
        let bytes = try await request.body.collect(upTo: 16 << 20)
        let body = try? JSONValue.parse(Array(bytes.readableBytesView))
        guard let name = body?["name"]?.stringValue, let params = body?["params"]?.objectValue else {
            return Self.fault(.badRequest, "400 Bad Request: Missing or invalid name or params")
        }
        // Decide under the lock: refuse, or record the call and what to do.
        enum Plan { case refuse(HTTPResponse.Status, String), reply(Int), hold(Int), slow(Duration), silent, notJSON(String) }
        let plan: Plan = state.update { contents in
            let answer = contents.answers[name] ?? contents.answers[StandInAgentState.bare(name)] ?? .succeed()
            var plan: Plan
            if contents.token != token {
                plan = .refuse(.unauthorized, "401 Unauthorized: Token invalid.")
            } else if !name.contains(".") {
                plan = .refuse(.badRequest, "Invalid command: Command name must be of the form <extension>.<name>")
            } else if let busy = contents.commands.last, busy.status == "RUNNING" {
                plan = .refuse(.conflict, "Agent is busy: executing command \(busy.name)")
            } else {
                let bare = StandInAgentState.bare(name)
                switch answer {
                case .succeed(let result):
                    contents.commands.append(.init(name: bare, status: "SUCCEEDED", result: result ?? .null))
                    plan = .reply(contents.commands.count - 1)
                case .fail(let message, let details, let type):
                    let error = StandInAgentState.error(type: type, message: message, details: details)
                    contents.commands.append(.init(name: bare, status: "FAILED", error: error))
                    plan = .reply(contents.commands.count - 1)
                case .hold:
                    contents.commands.append(.init(name: bare, status: "RUNNING"))
                    plan = wait ? .hold(contents.commands.count - 1) : .reply(contents.commands.count - 1)
                case .slow(let delay): plan = .slow(delay)
                case .silent: plan = .silent
                case .notJSON(let text): plan = .notJSON(text)
                }
            }
            let status: Int? =
                switch plan {
                case .refuse(let status, _): status.code
                case .silent: nil
                default: 200
                }
            contents.calls.append(.init(method: "POST", command: name, params: params, wait: wait, token: token, status: status))
            return plan
        }
        switch plan {
        case .refuse(let status, let message):
            return Self.fault(status, message)
        case .reply(let index):
            return Self.json(.ok, state.update { $0.commands[index].json })
        case .hold(let index):
            await pause { $0.commands[index].status != "RUNNING" }
            return Self.json(.ok, state.update { $0.commands[index].json })
        case .slow(let delay):
            let deadline = ContinuousClock.now + delay
            await pause { _ in ContinuousClock.now >= deadline }
            let command = state.update { contents in
                contents.commands.append(.init(name: StandInAgentState.bare(name), status: "SUCCEEDED"))
                return contents.commands[contents.commands.count - 1].json
            }
            return Self.json(.ok, command)
        case .silent:
            await pause { _ in false }
            return Self.fault(.serviceUnavailable, "503 Service Unavailable: the agent is stopping")
        case .notJSON(let text):
            return Response(status: .ok, headers: [.contentType: "text/html"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }

    /// Returns once `done` holds or the agent stops, looking every 20 ms.
    private func pause(until done: (StandInAgentState.Contents) -> Bool) async {
        while !state.update({ $0.stopping || done($0) }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    private static func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: value.serialized())))
    }

    /// IPA's error body (WSME's shape).
    private static func fault(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json(status, ["faultcode": status.code >= 500 ? "Server" : "Client", "faultstring": .string(message)])
    }
}
