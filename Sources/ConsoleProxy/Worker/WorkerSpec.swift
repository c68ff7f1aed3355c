import ConsoleProxyAPI

/// Everything one worker process needs, sent by the supervisor as the first line of the
/// worker's stdin (JSON), so the BMC password never appears on a command line or in the
/// environment.
public struct WorkerSpec: Sendable, Hashable, Codable {
    /// The console's id.
    public var consoleID: String
    /// The node it belongs to (for logs).
    public var nodeUUID: String
    /// The BMC.
    public var bmcHost: String
    /// The BMC's UDP port.
    public var bmcPort: Int
    /// BMC user.
    public var username: String
    /// BMC password.
    public var password: String
    /// `ADMINISTRATOR`, `OPERATOR` or `USER`.
    public var privilege: String
    /// IPMI 2.0 cipher suite.
    public var cipherSuite: Int
    /// FreeIPMI workaround names.
    public var workarounds: [String]
    /// SOL session timeout in milliseconds (longer than the keepalive).
    public var sessionTimeoutMilliseconds: Int
    /// SOL keepalive in milliseconds.
    public var keepaliveMilliseconds: Int
    /// Address the endpoints listen on.
    public var bindHost: String
    /// Raw TCP port.
    public var tcpPort: Int
    /// WebSocket (HTTP) port.
    public var webPort: Int
    /// The console's WebSocket token.
    public var token: String
    /// Console log size in bytes; 0 keeps no log.
    public var logSize: Int
    /// Whether TCP clients get the buffered log on connect.
    public var tcpReplay: Bool
    /// Seconds after which a silent writer loses the writer seat.
    public var writerIdleSeconds: Double
    /// PEM certificate and key for TLS on both endpoints; nil for plain TCP and WebSocket.
    public var tlsCertificateFile: String?
    /// PEM private key for TLS.
    public var tlsKeyFile: String?

    /// Creates a spec.
    public init(
        consoleID: String, nodeUUID: String, bmcHost: String, bmcPort: Int, username: String, password: String,
        privilege: String, cipherSuite: Int, workarounds: [String], sessionTimeoutMilliseconds: Int,
        keepaliveMilliseconds: Int, bindHost: String, tcpPort: Int, webPort: Int, token: String, logSize: Int,
        tcpReplay: Bool, writerIdleSeconds: Double, tlsCertificateFile: String?, tlsKeyFile: String?
    ) {
        self.consoleID = consoleID
        self.nodeUUID = nodeUUID
        self.bmcHost = bmcHost
        self.bmcPort = bmcPort
        self.username = username
        self.password = password
        self.privilege = privilege
        self.cipherSuite = cipherSuite
        self.workarounds = workarounds
        self.sessionTimeoutMilliseconds = sessionTimeoutMilliseconds
        self.keepaliveMilliseconds = keepaliveMilliseconds
        self.bindHost = bindHost
        self.tcpPort = tcpPort
        self.webPort = webPort
        self.token = token
        self.logSize = logSize
        self.tcpReplay = tcpReplay
        self.writerIdleSeconds = writerIdleSeconds
        self.tlsCertificateFile = tlsCertificateFile
        self.tlsKeyFile = tlsKeyFile
    }
}
