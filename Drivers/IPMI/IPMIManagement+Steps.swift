import Core

extension IPMIManagement: StepProvider {
    /// `reset_bmc`.
    public var stepNames: [String] { ["reset_bmc"] }

    /// Runs `reset_bmc`: a warm BMC reset, or a cold one with `{"warm": false}` in `args`.
    ///
    /// - Throws: `InvalidParameterValue` for another step name or a malformed `warm`.
    public func runStep(_ name: String, args: [String: JSONValue], task: NodeTask) async throws {
        guard name == "reset_bmc" else {
            throw IronicError.invalidParameterValue("The ipmi management interface has no step named \(name); it offers reset_bmc.")
        }
        try await resetBMC(task, warm: try IPMIVendor.warm(from: .object(args)))
    }
}
