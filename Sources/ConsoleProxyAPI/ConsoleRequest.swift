/// `POST /v1/consoles`: start a console for one node.
///
/// ```json
/// {"node_uuid": "1be26c0b-...", "bmc": {"address": "10.0.0.5", "port": 623, "username": "admin",
///  "password": "...", "privilege_level": "ADMINISTRATOR", "cipher_suite": 3,
///  "workarounds": ["opensesspriv"]}, "options": {"log": true, "log_size": 1048576}}
/// ```
public struct ConsoleRequest: Sendable, Hashable, Codable {
    /// The node whose console this is (one console per node on one proxy).
    public var nodeUUID: String
    /// How to reach the BMC.
    public var bmc: BMCEndpoint
    /// Per-console choices; every field has a default.
    public var options: ConsoleOptions

    /// Creates a request.
    public init(nodeUUID: String, bmc: BMCEndpoint, options: ConsoleOptions = ConsoleOptions()) {
        self.nodeUUID = nodeUUID
        self.bmc = bmc
        self.options = options
    }

    enum CodingKeys: String, CodingKey {
        case nodeUUID = "node_uuid", bmc, options
    }

    /// Decodes, with `options` optional.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        nodeUUID = try container.decode(String.self, forKey: .nodeUUID)
        bmc = try container.decode(BMCEndpoint.self, forKey: .bmc)
        options = try container.decodeIfPresent(ConsoleOptions.self, forKey: .options) ?? ConsoleOptions()
    }
}

/// A BMC's address and credentials, as Ironic's `ipmi_*` driver_info holds them.
public struct BMCEndpoint: Sendable, Hashable, Codable {
    /// Host name or address.
    public var address: String
    /// UDP port (default 623).
    public var port: Int?
    /// User name (default: the anonymous user).
    public var username: String?
    /// Password (never returned by the proxy).
    public var password: String?
    /// `ADMINISTRATOR` (default), `OPERATOR` or `USER`.
    public var privilegeLevel: String?
    /// IPMI 2.0 cipher suite (default 3).
    public var cipherSuite: Int?
    /// FreeIPMI workaround names (`opensesspriv`, `solchannelsupport`, ...).
    public var workarounds: [String]?

    /// Creates an endpoint.
    public init(
        address: String, port: Int? = nil, username: String? = nil, password: String? = nil,
        privilegeLevel: String? = nil, cipherSuite: Int? = nil, workarounds: [String]? = nil
    ) {
        self.address = address
        self.port = port
        self.username = username
        self.password = password
        self.privilegeLevel = privilegeLevel
        self.cipherSuite = cipherSuite
        self.workarounds = workarounds
    }

    enum CodingKeys: String, CodingKey {
        case address, port, username, password
        case privilegeLevel = "privilege_level"
        case cipherSuite = "cipher_suite"
        case workarounds
    }
}

/// Per-console options.
public struct ConsoleOptions: Sendable, Hashable, Codable {
    /// Keep a console log (ring buffer) in the worker (default true).
    public var log: Bool?
    /// Ring buffer size in bytes (default: the proxy's `log_size`).
    public var logSize: Int?
    /// Ask for this TCP port (a conductor restoring a console asks for the one it had, so
    /// nova's URL stays valid); default: the next free port in the proxy's range.
    public var tcpPort: Int?
    /// Send the buffered log to a TCP client when it connects (default false: socat clients
    /// see the console from now on, as with Ironic's socat console).
    public var tcpReplay: Bool?

    /// Creates options; nil means the proxy's default.
    public init(log: Bool? = nil, logSize: Int? = nil, tcpPort: Int? = nil, tcpReplay: Bool? = nil) {
        self.log = log
        self.logSize = logSize
        self.tcpPort = tcpPort
        self.tcpReplay = tcpReplay
    }

    enum CodingKeys: String, CodingKey {
        case log
        case logSize = "log_size"
        case tcpPort = "tcp_port"
        case tcpReplay = "tcp_replay"
    }
}
