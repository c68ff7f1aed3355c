/// Implemented by interfaces that offer clean (and service) steps: named operations a manual
/// clean or service request may run, such as `management.reset_bmc` or `raid.delete_configuration`.
public protocol StepProvider: HardwareInterface {
    /// Step names this interface runs.
    var stepNames: [String] { get }
    /// Runs one step with its `args`.
    func runStep(_ name: String, args: [String: JSONValue], task: NodeTask) async throws
}
