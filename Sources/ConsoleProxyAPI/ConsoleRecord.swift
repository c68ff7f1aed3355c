/// A console's life cycle on the proxy.
public enum ConsoleState: String, Sendable, Hashable, Codable, CaseIterable {
    /// The worker is starting and opening SOL.
    case starting
    /// SOL is established and the endpoints serve it.
    case running
    /// The worker ended (SOL dropped, BMC died, worker killed); it restarts after a backoff.
    case restarting
    /// Too many failures in a row, or settings that cannot work: no more restarts.
    case error
    /// Being stopped (DELETE or the proxy stopping).
    case stopping
}

/// Where clients reach one console.
public struct ConsoleEndpoints: Sendable, Hashable, Codable {
    /// Raw TCP, socat-compatible: `tcp://host:port` (nova's `socat` console type).
    public var tcp: String
    /// WebSocket with the console's token: `ws://host:port/ws?token=...` (`wss` with TLS).
    public var websocket: String
    /// The proxy's web page for this console (xterm.js over the WebSocket).
    public var page: String

    /// Creates endpoints.
    public init(tcp: String, websocket: String, page: String) {
        self.tcp = tcp
        self.websocket = websocket
        self.page = page
    }
}

/// `GET /v1/consoles/{id}`: one console as the proxy reports it.
public struct ConsoleRecord: Sendable, Hashable, Codable {
    /// The console's id (a UUID).
    public var id: String
    /// The node it belongs to.
    public var nodeUUID: String
    /// Where it is in its life cycle.
    public var state: ConsoleState
    /// The worker process, while one runs.
    public var pid: Int?
    /// When the console was created (ISO 8601).
    public var createdAt: String
    /// When the current worker established SOL (ISO 8601), if it has.
    public var startedAt: String?
    /// Bytes received from the BMC (serial output) by the current worker.
    public var bytesIn: Int
    /// Bytes sent to the BMC (typed by clients) by the current worker.
    public var bytesOut: Int
    /// Clients attached now (TCP and WebSocket).
    public var clients: Int
    /// Worker restarts since the console was created.
    public var restarts: Int
    /// The last failure, if any.
    public var lastError: String?
    /// Whether a console log is kept, and its size in bytes.
    public var logEnabled: Bool
    /// Ring buffer size in bytes.
    public var logSize: Int
    /// Client endpoints.
    public var endpoints: ConsoleEndpoints
    /// The BMC (`host:port`), without credentials.
    public var bmc: String

    /// Creates a record.
    public init(
        id: String, nodeUUID: String, state: ConsoleState, pid: Int?, createdAt: String, startedAt: String?,
        bytesIn: Int, bytesOut: Int, clients: Int, restarts: Int, lastError: String?, logEnabled: Bool, logSize: Int,
        endpoints: ConsoleEndpoints, bmc: String
    ) {
        self.id = id
        self.nodeUUID = nodeUUID
        self.state = state
        self.pid = pid
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.clients = clients
        self.restarts = restarts
        self.lastError = lastError
        self.logEnabled = logEnabled
        self.logSize = logSize
        self.endpoints = endpoints
        self.bmc = bmc
    }

    enum CodingKeys: String, CodingKey {
        case id
        case nodeUUID = "node_uuid"
        case state, pid
        case createdAt = "created_at"
        case startedAt = "started_at"
        case bytesIn = "bytes_in"
        case bytesOut = "bytes_out"
        case clients, restarts
        case lastError = "last_error"
        case logEnabled = "log_enabled"
        case logSize = "log_size"
        case endpoints, bmc
    }
}

/// `GET /v1/consoles`.
public struct ConsoleList: Sendable, Hashable, Codable {
    /// Every console, oldest first.
    public var consoles: [ConsoleRecord]

    /// Creates a list.
    public init(consoles: [ConsoleRecord]) { self.consoles = consoles }
}

/// The body of every 4xx/5xx answer: `{"error": {"code": 400, "message": "..."}}`.
public struct ProxyErrorBody: Sendable, Hashable, Codable {
    /// The error.
    public struct Detail: Sendable, Hashable, Codable {
        /// HTTP status.
        public var code: Int
        /// What went wrong, for people.
        public var message: String
    }

    /// The error.
    public var error: Detail

    /// Creates a body.
    public init(code: Int, message: String) { error = Detail(code: code, message: message) }
}
