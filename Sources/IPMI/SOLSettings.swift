import CFreeIPMI

/// Everything needed to open one serial-over-LAN session on a BMC (IPMI 2.0, lanplus).
///
/// ```swift
/// var settings = SOLSettings(host: "127.0.0.1", port: 9101, username: "admin", password: "password")
/// settings.workarounds = ["opensesspriv", "solchannelsupport", "solstatus", "solpayloadsize"]
/// ```
public struct SOLSettings: Sendable, Hashable {
    /// The BMC's privilege levels, with Ironic's `ipmi_priv_level` names.
    public enum Privilege: String, Sendable, Hashable, Codable, CaseIterable {
        case user = "USER"
        case `operator` = "OPERATOR"
        case administrator = "ADMINISTRATOR"

        var consoleValue: Int32 {
            switch self {
            case .user: IPMICONSOLE_PRIVILEGE_USER
            case .operator: IPMICONSOLE_PRIVILEGE_OPERATOR
            case .administrator: IPMICONSOLE_PRIVILEGE_ADMIN
            }
        }
    }

    /// BMC host name or address.
    public var host: String
    /// BMC UDP port (623 unless the BMC listens elsewhere).
    public var port: Int
    /// BMC user (empty for the anonymous user).
    public var username: String
    /// BMC password.
    public var password: String
    /// Privilege to request (default ADMINISTRATOR, as Ironic's `ipmi_priv_level`).
    public var privilege: Privilege = .administrator
    /// IPMI 2.0 cipher suite (default 3, as FreeIPMI's).
    public var cipherSuite: Int = 3
    /// FreeIPMI `-W` workaround names (see `SOLWorkarounds`).
    public var workarounds: Set<String> = []
    /// How long the session may go unanswered before it is declared dead. Must exceed
    /// `keepaliveTimeout` (libipmiconsole refuses otherwise).
    public var sessionTimeout: Duration = .seconds(60)
    /// Idle time after which a keepalive is sent.
    public var keepaliveTimeout: Duration = .seconds(20)
    /// Time before a packet is sent again.
    public var retransmissionTimeout: Duration = .milliseconds(500)

    /// Creates settings with the defaults above.
    public init(host: String, port: Int = 623, username: String, password: String) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
    }

    /// `host:port` (just `host` for 623), as libipmiconsole accepts it.
    public var target: String { port == 623 ? host : "\(host):\(port)" }

    /// Checks the values libipmiconsole would refuse, with messages an operator can act on.
    public func validate() throws(SOLError) {
        guard !host.isEmpty else { throw SOLError(kind: .invalidRequest, message: "The BMC address is empty.") }
        guard (1...65535).contains(port) else {
            throw SOLError(kind: .invalidRequest, message: "The BMC port \(port) is not in 1...65535.")
        }
        guard username.utf8.count <= 16 else {
            throw SOLError(kind: .invalidRequest, message: "The BMC user name is longer than 16 bytes.")
        }
        guard password.utf8.count <= 20 else {
            throw SOLError(kind: .invalidRequest, message: "The BMC password is longer than 20 bytes (IPMI 2.0 limit).")
        }
        guard ipmiconsole_cipher_suite_id_is_valid(Int32(clamping: cipherSuite)) == 1 else {
            throw SOLError(kind: .invalidRequest, message: "Cipher suite \(cipherSuite) is not one libipmiconsole supports.")
        }
        guard sessionTimeout > keepaliveTimeout else {
            throw SOLError(
                kind: .invalidRequest,
                message: "The SOL session timeout (\(sessionTimeout)) must be longer than the keepalive timeout (\(keepaliveTimeout)).")
        }
        _ = try SOLWorkarounds.flags(for: workarounds)
    }
}
