/// What a worker tells its supervisor: one JSON object per line on the worker's stdout.
public struct WorkerEvent: Sendable, Hashable, Codable {
    /// The kinds of events.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// Both endpoints listen (`tcpPort`, `webPort`).
        case listening
        /// SOL is established.
        case established
        /// Counters (`bytesIn`, `bytesOut`, `clients`), sent when they change, at most once a second.
        case stats
        /// The answer to a `log` command (`request`, `data` in base64).
        case log
        /// The worker gives up (`failure`, `message`) and exits.
        case failed
    }

    /// Why a worker failed, which decides what the supervisor does next.
    public enum Failure: String, Sendable, Hashable, Codable {
        /// SOL could not be opened or dropped: restart after a backoff.
        case sol
        /// Settings or credentials that cannot work: no restart.
        case fatal
        /// An endpoint port is taken: restart on other ports.
        case portInUse = "port_in_use"
    }

    /// The kind.
    public var event: Kind
    /// `listening`: the raw TCP port.
    public var tcpPort: Int?
    /// `listening`: the WebSocket port.
    public var webPort: Int?
    /// `stats`: bytes received from the BMC.
    public var bytesIn: Int?
    /// `stats`: bytes sent to the BMC.
    public var bytesOut: Int?
    /// `stats`: attached clients.
    public var clients: Int?
    /// `log`: the request this answers.
    public var request: Int?
    /// `log`: the buffered output, base64.
    public var data: String?
    /// `failed`: the class of failure.
    public var failure: Failure?
    /// `failed`: what happened.
    public var message: String?

    /// Creates an event.
    public init(
        event: Kind, tcpPort: Int? = nil, webPort: Int? = nil, bytesIn: Int? = nil, bytesOut: Int? = nil,
        clients: Int? = nil, request: Int? = nil, data: String? = nil, failure: Failure? = nil, message: String? = nil
    ) {
        self.event = event
        self.tcpPort = tcpPort
        self.webPort = webPort
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.clients = clients
        self.request = request
        self.data = data
        self.failure = failure
        self.message = message
    }
}

/// What a supervisor asks of a worker: one JSON object per line on the worker's stdin, after
/// the spec. End of stdin means the supervisor is gone: the worker stops.
public struct WorkerCommand: Sendable, Hashable, Codable {
    /// The commands.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// Send the console log (answered by a `log` event with the same `request`).
        case log
        /// Close SOL and exit.
        case stop
    }

    /// The command.
    public var command: Kind
    /// Correlates a `log` answer.
    public var request: Int?

    /// Creates a command.
    public init(command: Kind, request: Int? = nil) {
        self.command = command
        self.request = request
    }
}

/// Worker exit statuses.
public enum WorkerExitStatus {
    /// Stopped on request (or its supervisor went away).
    public static let stopped: Int32 = 0
    /// SOL failed or dropped.
    public static let solFailed: Int32 = 3
    /// Settings that cannot work.
    public static let fatal: Int32 = 4
    /// A port was taken.
    public static let portInUse: Int32 = 5
}
