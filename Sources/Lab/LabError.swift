/// Why the lab could not do what it was asked.
public enum LabError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A `LabConfiguration` value is out of range or unsafe.
    case invalidConfiguration(String)
    /// `ipmi_sim` (Debian package `openipmi`) is not installed.
    case ipmiSimNotFound
    /// Another process still runs a lab in this directory.
    case alreadyRunning(directory: String, pid: Int32)
    /// A port of the fixed layout is taken.
    case portInUse(Int)
    /// A simulated BMC did not come up; `log` is the end of its output.
    case serverDidNotStart(name: String, reason: String, log: String)
    /// A system call failed.
    case system(call: String, errno: Int32)
    /// The `ipmi_sim` process of a server is gone.
    case notRunning(name: String)
    /// The ipmi_sim command console did not answer in time, or answered with an error.
    case console(name: String, message: String)
    /// The lab's state file could not be read or written.
    case stateFile(String)
    /// No lab state file in the directory.
    case noLab(directory: String)
    /// The lab in this directory belongs to this very process; stop it with `Lab.stop()`.
    case ownedByThisProcess
    /// A program the lab's virtual machines need is not installed.
    case missingTool(String)
    /// A virtual machine's files could not be made.
    case machineSetupFailed(String)

    /// A one-line explanation for logs and the CLI.
    public var description: String {
        switch self {
        case .invalidConfiguration(let message): return "invalid lab configuration: \(message)"
        case .ipmiSimNotFound: return "ipmi_sim not found: install the Debian package openipmi (make deps)"
        case .alreadyRunning(let directory, let pid):
            return "a lab is already running in \(directory) (process \(pid)); stop it with `ironic lab down`"
        case .portInUse(let port): return "port \(port) on 127.0.0.1 is in use"
        case .serverDidNotStart(let name, let reason, let log):
            return "\(name) did not start: \(reason)" + (log.isEmpty ? "" : "; ipmi_sim said: \(log)")
        case .system(let call, let errno): return "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        case .notRunning(let name): return "the BMC of \(name) is not running"
        case .console(let name, let message): return "command console of \(name): \(message)"
        case .stateFile(let message): return "lab state file: \(message)"
        case .noLab(let directory): return "no lab in \(directory)"
        case .ownedByThisProcess: return "the lab belongs to this process; call Lab.stop()"
        case .missingTool(let tool): return "\(tool) not found: install it (make deps)"
        case .machineSetupFailed(let message): return "virtual machine setup failed: \(message)"
        }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
