import CFreeIPMI

extension IPMIError {
    /// Classifies a libfreeipmi error number (`ipmi_ctx_errnum`, `IPMI_ERR_*`).
    static func kind(ofFreeIPMIError errnum: Int32) -> Kind {
        let error = ipmi_errnum(rawValue: UInt32(bitPattern: errnum))
        switch error {
        case IPMI_ERR_USERNAME_INVALID, IPMI_ERR_PASSWORD_INVALID, IPMI_ERR_K_G_INVALID,
            IPMI_ERR_PRIVILEGE_LEVEL_INSUFFICIENT, IPMI_ERR_PRIVILEGE_LEVEL_CANNOT_BE_OBTAINED,
            IPMI_ERR_AUTHENTICATION_TYPE_UNAVAILABLE, IPMI_ERR_CIPHER_SUITE_ID_UNAVAILABLE,
            IPMI_ERR_PASSWORD_VERIFICATION_TIMEOUT:
            return .authentication
        case IPMI_ERR_CONNECTION_TIMEOUT, IPMI_ERR_SESSION_TIMEOUT, IPMI_ERR_MESSAGE_TIMEOUT, IPMI_ERR_DRIVER_TIMEOUT:
            return .timeout
        case IPMI_ERR_HOSTNAME_INVALID, IPMI_ERR_DEVICE_NOT_FOUND:
            return .unreachable
        case IPMI_ERR_BMC_BUSY, IPMI_ERR_DRIVER_BUSY:
            return .busy
        case IPMI_ERR_COMMAND_INVALID_OR_UNSUPPORTED, IPMI_ERR_COMMAND_INVALID_FOR_SELECTED_INTERFACE,
            IPMI_ERR_PARAMETERS, IPMI_ERR_IPMI_2_0_UNAVAILABLE, IPMI_ERR_DEVICE_NOT_SUPPORTED:
            return .invalidRequest
        case IPMI_ERR_BAD_COMPLETION_CODE:
            return .completionCode
        default:
            return .other
        }
    }

    /// An error from libfreeipmi's error number, with `context` ("Get Chassis Status to
    /// 10.0.0.5:623") in front of FreeIPMI's message.
    static func freeIPMI(_ errnum: Int32, context: String) -> IPMIError {
        let text = ipmi_ctx_strerror(errnum).map { String(cString: $0) } ?? "FreeIPMI error \(errnum)"
        var message = "\(context): \(text)"
        if ipmi_errnum(rawValue: UInt32(bitPattern: errnum)) == IPMI_ERR_PRIVILEGE_LEVEL_CANNOT_BE_OBTAINED {
            // The usual cause on ipmi_sim and several real BMCs; say so where it is seen.
            message += " (wrong privilege level, or the BMC needs the 'opensesspriv' workaround)"
        }
        return IPMIError(kind: kind(ofFreeIPMIError: errnum), message: message)
    }

    /// An error for a response whose completion code is not 0x00, with FreeIPMI's
    /// command-specific reading of the code.
    static func completion(_ code: UInt8, netFunction: UInt8, command: UInt8, endpoint: String) -> IPMIError {
        var buffer = [CChar](repeating: 0, count: 256)
        let described = ipmi_completion_code_strerror_r(command, netFunction, code, &buffer, buffer.count) == 0
        let text = described ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "completion code"
        return IPMIError(
            kind: IPMICompletionCode(rawValue: code).kind, completionCode: code,
            message: "\(FreeIPMISession.commandName(netFunction, command)) to \(endpoint): \(text)")
    }
}
