import CFreeIPMI

/// One open libfreeipmi LAN session (an `ipmi_ctx_t`), used from a single pool thread.
///
/// Threading contract: not `Sendable`. It is created, used and destroyed inside one
/// `BlockingThreadPool` job; every method blocks its thread for at most the session timeout.
final class FreeIPMISession {
    let context: ipmi_ctx_t
    /// `host:port`, for messages.
    let endpoint: String
    let workarounds: ResolvedWorkarounds
    private var isOpen = false

    /// The first command a session runs after its handshake; errors before it count as
    /// failures to open (retryable for every operation), errors after it as command failures.
    private(set) var commandsSent = 0

    private init(context: ipmi_ctx_t, endpoint: String, workarounds: ResolvedWorkarounds) {
        self.context = context
        self.endpoint = endpoint
        self.workarounds = workarounds
    }

    deinit {
        if isOpen { ipmi_ctx_close(context) }
        ipmi_ctx_destroy(context)
    }

    /// Opens a session as `options` describe, with `sessionTimeout` overriding the options'
    /// (the retry loop shortens the last attempts to fit its budget).
    static func open(_ options: BMCSessionOptions, workarounds: ResolvedWorkarounds, sessionTimeout: Duration) throws(IPMIError)
        -> FreeIPMISession
    {
        try validate(options)
        guard let context = ipmi_ctx_create() else {
            throw IPMIError(kind: .other, message: "Cannot create a FreeIPMI context (out of memory).")
        }
        let session = FreeIPMISession(context: context, endpoint: options.endpoint, workarounds: workarounds)
        let sessionMilliseconds = milliseconds(sessionTimeout, minimum: 10)
        // FreeIPMI refuses a retransmission timeout not shorter than the session timeout.
        var retransmitMilliseconds = milliseconds(options.retransmissionTimeout, minimum: 5)
        if retransmitMilliseconds >= sessionMilliseconds { retransmitMilliseconds = max(1, sessionMilliseconds / 2) }
        let privilege = privilegeByte(options.privilege)
        let host = hostArgument(options)
        let result: Int32 = host.withCString { host in
            withOptionalCString(options.username) { username in
                withOptionalCString(options.password) { password in
                    switch options.protocolVersion {
                    case .v2_0:
                        let key = options.kgKey ?? []
                        return key.withUnsafeBufferPointer { key in
                            ipmi_ctx_open_outofband_2_0(
                                context, host, username, password,
                                key.isEmpty ? nil : key.baseAddress, UInt32(key.count),
                                privilege, UInt8(options.cipherSuite ?? 3),
                                sessionMilliseconds, retransmitMilliseconds,
                                workarounds.lan20, workarounds.context)
                        }
                    case .v1_5:
                        return ipmi_ctx_open_outofband(
                            context, host, username, password,
                            UInt8(IPMI_AUTHENTICATION_TYPE_MD5), privilege,
                            sessionMilliseconds, retransmitMilliseconds,
                            workarounds.lan15, workarounds.context)
                    }
                }
            }
        }
        guard result == 0 else {
            throw IPMIError.freeIPMI(
                ipmi_ctx_errnum(context), context: "Opening an IPMI \(options.protocolVersion.rawValue) session with \(options.endpoint)")
        }
        session.isOpen = true
        return session
    }

    /// Sends one request and returns the response data after the completion code.
    ///
    /// - Throws: `IPMIError` with the completion code when it is not 0x00, or FreeIPMI's error.
    func command(_ netFunction: UInt8, _ command: UInt8, _ data: [UInt8] = []) throws(IPMIError) -> [UInt8] {
        let (code, payload) = try exchange(netFunction, command, data)
        guard code == 0 else { throw IPMIError.completion(code, netFunction: netFunction, command: command, endpoint: endpoint) }
        return payload
    }

    /// Sends one request and returns the completion code and the data after it, without judging
    /// the code.
    func exchange(_ netFunction: UInt8, _ command: UInt8, _ data: [UInt8] = []) throws(IPMIError) -> (code: UInt8, data: [UInt8]) {
        commandsSent += 1
        let request = [command] + data
        var response = [UInt8](repeating: 0, count: 512)
        let length = request.withUnsafeBytes { request in
            response.withUnsafeMutableBytes { response in
                ipmi_cmd_raw(
                    context, UInt8(IPMI_BMC_IPMB_LUN_BMC), netFunction,
                    request.baseAddress, UInt32(request.count),
                    response.baseAddress, UInt32(response.count))
            }
        }
        guard length >= 0 else {
            throw IPMIError.freeIPMI(ipmi_ctx_errnum(context), context: "\(Self.commandName(netFunction, command)) to \(endpoint)")
        }
        // Byte 0 echoes the command, byte 1 is the completion code (ipmi-api.h, ipmi_cmd_raw).
        guard length >= 2 else {
            throw IPMIError(
                kind: .other,
                message: "\(Self.commandName(netFunction, command)) to \(endpoint): response of \(length) byte(s) has no completion code.")
        }
        return (response[1], Array(response[2..<Int(length)]))
    }

    /// FreeIPMI's name for a command, e.g. "Get Chassis Status".
    static func commandName(_ netFunction: UInt8, _ command: UInt8) -> String {
        if let name = ipmi_cmd_str(netFunction, command) {
            let text = String(cString: name)
            if !text.isEmpty { return text }
        }
        return "IPMI command 0x\(String(command, radix: 16)) (netfn 0x\(String(netFunction, radix: 16)))"
    }

    // MARK: - Option checks

    /// Refuses options FreeIPMI would reject with an unhelpful "invalid parameters".
    static func validate(_ options: BMCSessionOptions) throws(IPMIError) {
        func invalid(_ message: String) -> IPMIError { IPMIError(kind: .invalidRequest, message: message) }
        guard !options.host.isEmpty else { throw invalid("The BMC address is empty.") }
        guard (1...65535).contains(options.port) else { throw invalid("BMC port \(options.port) is not between 1 and 65535.") }
        if let username = options.username, username.utf8.count > Int(IPMI_MAX_USER_NAME_LENGTH) {
            throw invalid("The IPMI user name is longer than \(IPMI_MAX_USER_NAME_LENGTH) bytes.")
        }
        let passwordLimit = options.protocolVersion == .v2_0 ? Int(IPMI_2_0_MAX_PASSWORD_LENGTH) : Int(IPMI_1_5_MAX_PASSWORD_LENGTH)
        if let password = options.password, password.utf8.count > passwordLimit {
            throw invalid("The IPMI password is longer than \(passwordLimit) bytes, the IPMI \(options.protocolVersion.rawValue) limit.")
        }
        if let key = options.kgKey, key.count > Int(IPMI_MAX_K_G_LENGTH) {
            throw invalid("The K_g key is longer than \(IPMI_MAX_K_G_LENGTH) bytes.")
        }
        if let suite = options.cipherSuite, !(0...255).contains(suite) {
            throw invalid("Cipher suite \(suite) is not a valid IPMI 2.0 cipher suite ID.")
        }
    }

    static func privilegeByte(_ level: PrivilegeLevel) -> UInt8 {
        switch level {
        case .callback: UInt8(IPMI_PRIVILEGE_LEVEL_CALLBACK)
        case .user: UInt8(IPMI_PRIVILEGE_LEVEL_USER)
        case .operator: UInt8(IPMI_PRIVILEGE_LEVEL_OPERATOR)
        case .administrator: UInt8(IPMI_PRIVILEGE_LEVEL_ADMIN)
        }
    }

    /// FreeIPMI splits `host:port` at the first colon, so the default port is passed as the bare
    /// host (which keeps IPv6 literals working there).
    static func hostArgument(_ options: BMCSessionOptions) -> String {
        if options.port == 623 { return options.host }
        return options.endpoint
    }

    static func milliseconds(_ duration: Duration, minimum: UInt32) -> UInt32 {
        let (seconds, attoseconds) = duration.components
        let value = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return UInt32(clamping: max(Int64(minimum), value))
    }
}

private func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}
