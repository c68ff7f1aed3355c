import Core
import IPMI

/// `ipmi` management (also registered as `ipmitool`, Ironic's name): boot device, NMI,
/// sensors and BMC reset.
///
/// The boot device goes out as Set System Boot Options (boot flags) with the EFI bit set when
/// the node boots through UEFI (`BootMode.of(_:)`). With `ipmi_force_boot_device`, the choice
/// is also kept in `driver_internal_info` (`persistent_boot_device`, `is_next_boot_persistent`)
/// and the power interface sends it again before every power on, for BMCs that forget it.
public struct IPMIManagement: ManagementInterface {
    /// `ipmi`.
    public var name: String { "ipmi" }

    let backend: IPMIBackend

    /// Creates the implementation over the service's shared BMC client.
    public init(client: any BMCClient, settings: IPMIDriverSettings = IPMIDriverSettings()) {
        self.backend = IPMIBackend(client: client, settings: settings)
    }

    /// Every `ipmi_*` key (`IPMIDriverInfo.properties`).
    public var properties: [String: String] { IPMIDriverInfo.properties }

    /// Checks the node's driver_info without contacting the BMC.
    public func validate(_ task: NodeTask) async throws {
        _ = try backend.driverInfo(task)
    }

    /// Ironic's list for IPMI: `pxe`, `disk`, `cdrom`, `bios`, `safe`.
    public func supportedBootDevices(_ task: NodeTask) async throws -> [BootDevice] {
        [.pxe, .disk, .cdrom, .bios, .safe]
    }

    /// Sets the device for the next boot (`persistent: false`) or every boot.
    ///
    /// With `ipmi_force_boot_device` the BMC is only ever given a one-time device; the
    /// persistent choice lives in `driver_internal_info` and is re-sent before each power on.
    /// With `ipmi_disable_boot_timeout` (the default) the BMC is first asked to keep the boot
    /// flags past their 60-second expiry.
    ///
    /// - Throws: `InvalidParameterValue` for an unsupported device, `IPMIFailure` when the
    ///   BMC refuses.
    public func setBootDevice(_ device: BootDevice, persistent: Bool, on task: NodeTask) async throws {
        try IPMIBackend.requireExclusiveLock(task)
        guard try await supportedBootDevices(task).contains(device), let selector = BootDeviceSelector(device) else {
            throw IronicError.invalidParameterValue(
                "Boot device \(device.rawValue) is not supported by the ipmi management interface; use one of: pxe, disk, cdrom, bios, safe."
            )
        }
        let info = try backend.driverInfo(task)
        var persistent = persistent
        if info.forceBootDevice {
            ForcedBootDevice.record(device, persistent: persistent, task: task)
            // Some BMCs cannot keep a persistent device (or refuse it without admin rights);
            // the conductor re-applies it instead.
            persistent = false
        }
        let efi = BootMode.of(task.node) == .uefi
        if info.disableBootTimeout {
            // As Ironic does: a BMC that refuses this still gets the device; it only expires sooner.
            do {
                try await backend.client.disableBootFlagTimeout(info.session)
            } catch {
                task.logger.warning("the BMC did not accept disabling the boot flag timeout: \(error)")
            }
        }
        try await backend.run("chassis bootdev \(device.rawValue)", task, info) { [persistent] client, options in
            try await client.setBootDevice(selector, persistent: persistent, efi: efi, options)
        }
    }

    /// The boot device the BMC reports (or, for a forced node with a persistent choice and no
    /// pending one-time device, that choice); device and persistence are nil when unknown.
    public func bootDevice(of task: NodeTask) async throws -> BootDeviceState {
        let info = try backend.driverInfo(task)
        if info.forceBootDevice, let device = ForcedBootDevice.persistentDevice(of: task.node) {
            return BootDeviceState(bootDevice: device, persistent: true)
        }
        let flags = try await backend.run("chassis bootparam get 5", task, info) { client, options in
            try await client.bootFlags(options)
        }
        return BootDeviceState(bootDevice: BootDevice(flags.device), persistent: flags.persistent)
    }

    /// Injects an NMI (Chassis Control "pulse diagnostic interrupt").
    public func injectNMI(_ task: NodeTask) async throws {
        try IPMIBackend.requireExclusiveLock(task)
        let info = try backend.driverInfo(task)
        try await backend.run("chassis power diag", task, info) { client, options in
            try await client.chassisControl(.diagnosticInterrupt, options)
        }
    }

    /// The BMC's sensor readings.
    ///
    /// - Throws: `FailedToGetSensorData` (500) when they cannot be read.
    public func sensors(_ task: NodeTask) async throws -> [SensorReading] {
        let info = try backend.driverInfo(task)
        do {
            return try await backend.client.sensors(info.session)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            let failure = IronicError.ipmiFailure("sdr", node: task.node, options: info.session, error: error)
            throw IronicError.failedToGetSensorData(node: task.node.uuid, reason: failure.message)
        }
    }

    /// Resets the BMC: warm (the management controller restarts, the host is untouched) or
    /// cold. The conductor's `reset_bmc` clean and service steps and the `bmc_reset` vendor
    /// method call this.
    ///
    /// The BMC drops its sessions while it restarts, and may do so before its answer to the
    /// reset leaves. So the BMC is first asked for its device ID (which proves it is reachable
    /// with these credentials), and a reset that then goes unanswered counts as done.
    public func resetBMC(_ task: NodeTask, warm: Bool) async throws {
        try IPMIBackend.requireExclusiveLock(task)
        let info = try backend.driverInfo(task)
        task.logger.info("resetting the BMC", metadata: ["kind": "\(warm ? "warm" : "cold")"])
        _ = try await backend.run("mc info", task, info) { client, options in
            try await client.deviceID(options)
        }
        do {
            try await backend.client.resetBMC(warm: warm, info.session)
        } catch let error as IPMIError where error.kind == .timeout {
            // The reset took the BMC down before its answer left: the request reached it.
            task.logger.info("the BMC did not answer the reset request; assuming it is restarting", metadata: ["error": "\(error)"])
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw IronicError.ipmiFailure("bmc reset \(warm ? "warm" : "cold")", node: task.node, options: info.session, error: error)
        }
    }
}
