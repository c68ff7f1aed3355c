import CFreeIPMI

/// Why a serial-over-LAN session could not be opened or ended.
public struct SOLError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, coarsely: a supervisor decides on restarts and messages from this.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// Wrong user name, password, K_g key, privilege or cipher suite.
        case authentication
        /// The BMC did not answer in time (a dead, frozen or crashed BMC).
        case timeout
        /// The host cannot be resolved.
        case unreachable
        /// The BMC does not offer SOL, or SOL is in use and could not be taken over.
        case solUnavailable
        /// Another client took the SOL session over.
        case stolen
        /// The BMC answered with an error or behaves outside the specification.
        case bmcError
        /// Invalid settings (unknown workaround, bad privilege, ...): retrying cannot help.
        case invalidRequest
        /// Out of memory, file descriptors, or another local failure.
        case system
        /// An established session ended (EOF on the session's descriptor).
        case sessionLost
    }

    /// The coarse classification.
    public var kind: Kind
    /// libipmiconsole's message or ours.
    public var message: String

    /// Creates an error.
    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    /// Whether opening the session again may succeed (false for bad settings and credentials).
    public var isRetryable: Bool {
        switch kind {
        case .invalidRequest, .authentication: false
        default: true
        }
    }

    /// `kind: message`.
    public var description: String { "\(kind.rawValue): \(message)" }

    /// Classifies a libipmiconsole error number (`IPMICONSOLE_ERR_*`).
    static func kind(ofConsoleError errnum: Int32) -> Kind {
        switch errnum {
        case IPMICONSOLE_ERR_USERNAME_INVALID, IPMICONSOLE_ERR_PASSWORD_INVALID, IPMICONSOLE_ERR_K_G_INVALID,
            IPMICONSOLE_ERR_PRIVILEGE_LEVEL_INSUFFICIENT, IPMICONSOLE_ERR_PRIVILEGE_LEVEL_CANNOT_BE_OBTAINED,
            IPMICONSOLE_ERR_CIPHER_SUITE_ID_UNAVAILABLE:
            .authentication
        case IPMICONSOLE_ERR_CONNECTION_TIMEOUT, IPMICONSOLE_ERR_SESSION_TIMEOUT,
            IPMICONSOLE_ERR_EXCESS_RETRANSMISSIONS_SENT, IPMICONSOLE_ERR_EXCESS_ERRORS_RECEIVED:
            .timeout
        case IPMICONSOLE_ERR_HOSTNAME_INVALID: .unreachable
        case IPMICONSOLE_ERR_SOL_UNAVAILABLE, IPMICONSOLE_ERR_SOL_INUSE, IPMICONSOLE_ERR_SOL_REQUIRES_ENCRYPTION,
            IPMICONSOLE_ERR_SOL_REQUIRES_NO_ENCRYPTION, IPMICONSOLE_ERR_IPMI_2_0_UNAVAILABLE:
            .solUnavailable
        case IPMICONSOLE_ERR_SOL_STOLEN: .stolen
        case IPMICONSOLE_ERR_BMC_BUSY, IPMICONSOLE_ERR_BMC_ERROR, IPMICONSOLE_ERR_BMC_IMPLEMENTATION: .bmcError
        case IPMICONSOLE_ERR_PARAMETERS: .invalidRequest
        default: .system
        }
    }
}
