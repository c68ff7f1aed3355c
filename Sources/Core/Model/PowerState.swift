/// Power states with Ironic's wire strings. `rebooting`, `soft rebooting` and
/// `soft power off` appear only as requested targets; a node's current state is on, off or error.
public enum PowerState: String, Codable, Sendable, CaseIterable, Hashable {
    case on = "power on"
    case off = "power off"
    case rebooting = "rebooting"
    case softRebooting = "soft rebooting"
    case softPowerOff = "soft power off"
    case error = "error"

    /// The state the node ends in once this target is reached.
    public var settledState: PowerState {
        switch self {
        case .on, .rebooting, .softRebooting: .on
        case .off, .softPowerOff: .off
        case .error: .error
        }
    }

    /// Whether a user may ask for this target (`PUT /states/power`), and from which microversion.
    public var minimumAPIMinorAsTarget: Int? {
        switch self {
        case .on, .off, .rebooting: 1
        case .softRebooting, .softPowerOff: 27
        case .error: nil
        }
    }
}

/// Why a node is in maintenance when the conductor put it there (Ironic's `fault` field).
public enum Fault: String, Codable, Sendable, CaseIterable, Hashable {
    case powerFailure = "power failure"
    case cleanFailure = "clean failure"
    case rescueAbortFailure = "rescue abort failure"
    case serviceFailure = "service failure"
}
