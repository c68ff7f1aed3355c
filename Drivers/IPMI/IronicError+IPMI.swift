import Core
import IPMI

extension IronicError {
    /// 500, Ironic's `IPMIFailure`: an IPMI command failed. `command` says what was attempted
    /// (`chassis power on`); the message adds what went wrong and, where it helps, which
    /// `driver_info` keys to check. Never includes the password.
    public static func ipmiFailure(_ command: String, node: Node, options: BMCSessionOptions, error: any Error) -> IronicError {
        let reason: String
        if let error = error as? IPMIError {
            let hint: String
            switch error.kind {
            case .authentication:
                hint = "; check ipmi_username, ipmi_password, ipmi_priv_level, ipmi_hex_kg_key and ipmi_cipher_suite"
            case .timeout:
                hint =
                    "; the BMC at \(options.endpoint) did not answer within the session timeout "
                    + "(check ipmi_address, ipmi_port, ipmi_protocol_version and ipmi_workarounds)"
            case .unreachable:
                hint = "; check ipmi_address and ipmi_port"
            case .busy, .completionCode, .invalidRequest, .other:
                hint = ""
            }
            reason = "\(error.description)\(hint)"
        } else if let error = error as? IronicError {
            return error
        } else {
            reason = "\(error)"
        }
        return IronicError(
            status: 500, code: "IPMIFailure",
            message: "IPMI call failed for node \(node.uuid): \(command): \(reason).")
    }

    /// 409, Ironic's `PowerStateFailure`: the node did not reach `state` in time.
    public static func powerStateFailure(_ state: PowerState, detail: String) -> IronicError {
        IronicError(
            status: 409, code: "PowerStateFailure",
            message: "Failed to set node power state to \(state.rawValue): \(detail)")
    }

    /// 500, Ironic's `FailedToGetSensorData`.
    public static func failedToGetSensorData(node: String, reason: String) -> IronicError {
        IronicError(
            status: 500, code: "FailedToGetSensorData",
            message: "Failed to get sensor data for node \(node): \(reason)")
    }
}
