import Core
import IPMI

/// `ipmi` power (also registered as `ipmitool`, Ironic's name): power state and power changes
/// through Chassis Status and Chassis Control.
///
/// Every change waits until Get Chassis Status shows the new state, polling with a growing
/// pause, up to the caller's timeout or the service default
/// (`[conductor] power_state_change_timeout`, or `soft_power_off_timeout` for soft power off).
/// A change the node is already in costs one status read and nothing else.
public struct IPMIPower: PowerInterface, PowerPollingPolicy {
    /// `ipmi`.
    public var name: String { "ipmi" }

    private let backend: IPMIBackend

    /// Creates the implementation over the service's shared BMC client.
    public init(client: any BMCClient, settings: IPMIDriverSettings = IPMIDriverSettings()) {
        self.backend = IPMIBackend(client: client, settings: settings)
    }

    /// Every `ipmi_*` key (`IPMIDriverInfo.properties`).
    public var properties: [String: String] { IPMIDriverInfo.properties }

    /// Checks the node's driver_info without contacting the BMC.
    public func validate(_ task: NodeTask) async throws {
        _ = try backend.driverInfo(task)
        try requirePolling(task)
    }

    /// `power on` or `power off`, from Get Chassis Status.
    ///
    /// - Throws: `IPMIFailure` when the BMC cannot be asked.
    public func powerState(of task: NodeTask) async throws -> PowerState {
        try requirePolling(task)
        return try await backend.powerState(task, try backend.driverInfo(task))
    }

    /// Powers on, off, soft off, or soft reboots, then waits for the settled state.
    ///
    /// - Parameter timeout: For a soft reboot it applies to each half, as in Ironic.
    /// - Throws: `InvalidParameterValue` for `rebooting` (use `reboot(_:soft:timeout:)`) and
    ///   `error`; `PowerStateFailure` (409) when the node does not get there in time;
    ///   `IPMIFailure` when a command fails.
    public func setPowerState(_ target: PowerState, on task: NodeTask, timeout: Duration?) async throws {
        try requirePolling(task)
        try IPMIBackend.requireExclusiveLock(task)
        let info = try backend.driverInfo(task)
        switch target {
        case .on:
            guard try await backend.powerState(task, info) != .on else { return }
            try await powerOn(task, info, timeout: timeout)
        case .off:
            guard try await backend.powerState(task, info) != .off else { return }
            try await powerOff(task, info, timeout: timeout)
        case .softPowerOff:
            guard try await backend.powerState(task, info) != .off else { return }
            try await softPowerOff(task, info, timeout: timeout)
        case .softRebooting:
            try await softReboot(task, info, timeout: timeout)
        case .rebooting, .error:
            throw IronicError.invalidParameterValue(
                "The ipmi power interface cannot set the power state \"\(target.rawValue)\"; it sets \"power on\", "
                    + "\"power off\", \"soft power off\" and \"soft rebooting\", and reboots through the reboot action.")
        }
    }

    /// Hard reboot as Ironic does it over IPMI: power off (unless already off), wait, power on,
    /// wait; or, with `soft`, a soft power off before the power on.
    ///
    /// - Parameter timeout: Applies to each half.
    public func reboot(_ task: NodeTask, soft: Bool, timeout: Duration?) async throws {
        try requirePolling(task)
        try IPMIBackend.requireExclusiveLock(task)
        let info = try backend.driverInfo(task)
        if soft {
            try await softReboot(task, info, timeout: timeout)
            return
        }
        // Some BMCs refuse to power off a machine that is already off.
        if try await backend.powerState(task, info) != .off {
            try await powerOff(task, info, timeout: timeout)
        }
        try await powerOn(task, info, timeout: timeout)
    }

    /// On, off, rebooting, soft rebooting and soft power off.
    public func supportedPowerStates(_ task: NodeTask) -> [PowerState] {
        [.on, .off, .rebooting, .softRebooting, .softPowerOff]
    }

    // MARK: Steps

    private func powerOn(_ task: NodeTask, _ info: IPMIDriverInfo, timeout: Duration?) async throws {
        try await ForcedBootDevice.reapply(task, info, backend: backend)
        try await backend.run("chassis power on", task, info) { client, options in
            try await client.chassisControl(.powerOn, options)
        }
        try await waitFor(.on, task, info, timeout: timeout ?? backend.settings.powerStateChangeTimeout)
    }

    private func powerOff(_ task: NodeTask, _ info: IPMIDriverInfo, timeout: Duration?) async throws {
        try await backend.run("chassis power off", task, info) { client, options in
            try await client.chassisControl(.powerOff, options)
        }
        try await waitFor(.off, task, info, timeout: timeout ?? backend.settings.powerStateChangeTimeout)
    }

    /// Asks the operating system to shut down (ACPI soft-off) and waits; a node that ignores
    /// the request fails with `PowerStateFailure` and stays on, as in Ironic: forcing it off
    /// is the caller's decision.
    private func softPowerOff(_ task: NodeTask, _ info: IPMIDriverInfo, timeout: Duration?) async throws {
        try await backend.run("chassis power soft", task, info) { client, options in
            try await client.chassisControl(.softShutdown, options)
        }
        try await waitFor(.off, task, info, timeout: timeout ?? backend.settings.softPowerOffTimeout)
    }

    private func softReboot(_ task: NodeTask, _ info: IPMIDriverInfo, timeout: Duration?) async throws {
        if try await backend.powerState(task, info) != .off {
            try await softPowerOff(task, info, timeout: timeout)
        }
        try await powerOn(task, info, timeout: timeout)
    }

    /// Polls Get Chassis Status until it reports `target` or `timeout` passes. A failed read
    /// while waiting is not fatal (BMCs are often busy right after a power change); it is
    /// reported if the wait runs out.
    private func waitFor(_ target: PowerState, _ task: NodeTask, _ info: IPMIDriverInfo, timeout: Duration) async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start.advanced(by: timeout)
        var pause = backend.settings.pollInterval
        var lastState: PowerState?
        var lastError: (any Error)?
        while true {
            do {
                let state = try await backend.powerState(task, info)
                if state == target { return }
                lastState = state
                lastError = nil
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                lastError = error
            }
            let now = clock.now
            guard now < deadline else { break }
            try await Task.sleep(for: min(pause, deadline - now))
            pause = min(pause * 1.5, backend.settings.maximumPollInterval)
        }
        let waited = start.duration(to: clock.now)
        let seconds = Int((Double(waited.components.seconds) + Double(waited.components.attoseconds) / 1e18).rounded())
        let detail: String
        if let lastError = lastError as? IronicError {
            detail = "the BMC could not be read after \(seconds) seconds of waiting: \(lastError.message)"
        } else if let lastError {
            detail = "the BMC could not be read after \(seconds) seconds of waiting: \(lastError)"
        } else {
            detail = "the node was still \(lastState?.rawValue ?? "in another state") after \(seconds) seconds."
        }
        task.logger.error(
            "timed out waiting for a power state",
            metadata: ["target": "\(target.rawValue)", "waited_seconds": "\(seconds)"])
        throw IronicError.powerStateFailure(target, detail: detail)
    }
}

extension IPMIPower {
    /// False while the console is enabled on a node with `ipmi_poll_during_console = false`.
    public func mayPollPower(_ node: Node) -> Bool {
        guard node.consoleEnabled, let value = node.driverInfo["ipmi_poll_during_console"] else { return true }
        return (try? IPMIDriverInfo.flag(value, key: "ipmi_poll_during_console")) ?? true
    }

    /// Refuses to touch a BMC that must not be polled during its console session.
    func requirePolling(_ task: NodeTask) throws(IronicError) {
        guard mayPollPower(task.node) else {
            throw IronicError(
                status: 409, code: "NodeConsolePowerPollingDisabled",
                message: "Node \(task.node.uuid) has ipmi_poll_during_console = false and its console is enabled: "
                    + "power is not read or changed through the BMC while serial-over-LAN is active. Disable the console first.")
        }
    }
}
