import Core
import IPMI

/// What the ipmi interfaces of one service share: the BMC client (one per service, so its
/// per-BMC pacing and thread pool cover every node) and the service-wide settings.
struct IPMIBackend: Sendable {
    let client: any BMCClient
    let settings: IPMIDriverSettings

    /// The node's parsed driver_info.
    func driverInfo(_ task: NodeTask) throws(IronicError) -> IPMIDriverInfo {
        try IPMIDriverInfo(node: task.node, settings: settings)
    }

    /// Runs one BMC command, turning its failure into `IPMIFailure` for `command`.
    func run<T: Sendable>(
        _ command: String, _ task: NodeTask, _ info: IPMIDriverInfo,
        _ body: (any BMCClient, BMCSessionOptions) async throws -> T
    ) async throws -> T {
        do {
            return try await body(client, info.session)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            task.logger.warning(
                "IPMI command failed",
                metadata: ["command": "\(command)", "bmc": "\(info.session.endpoint)", "error": "\(error)"])
            throw IronicError.ipmiFailure(command, node: task.node, options: info.session, error: error)
        }
    }

    /// The node's power as Get Chassis Status reports it.
    func powerState(_ task: NodeTask, _ info: IPMIDriverInfo) async throws -> PowerState {
        try await run("power status", task, info) { client, options in
            try await client.chassisStatus(options).powerOn ? PowerState.on : .off
        }
    }

    /// Ironic's `ExclusiveLockRequired` (403) for operations that change the node or the machine.
    static func requireExclusiveLock(_ task: NodeTask) throws(IronicError) {
        guard !task.isShared else {
            throw IronicError(
                status: 403, code: "ExclusiveLockRequired",
                message: "This operation changes node \(task.node.uuid) and needs its exclusive lock; the task holds a shared one.")
        }
    }
}

/// Ironic's `ipmi_force_boot_device` bookkeeping in `driver_internal_info`, shared by power
/// (which re-applies the device before powering on) and management (which records it).
enum ForcedBootDevice {
    /// The device the node should boot from every time (`persistent_boot_device`).
    static let persistentDeviceKey = "persistent_boot_device"
    /// `false` while a one-time device is set that the next power on must not overwrite
    /// (`is_next_boot_persistent`).
    static let nextBootPersistentKey = "is_next_boot_persistent"

    /// Records a boot device choice for a node whose BMC forgets them.
    static func record(_ device: BootDevice, persistent: Bool, task: NodeTask) {
        task.updateNode { node in
            if persistent {
                node.driverInternalInfo[nextBootPersistentKey] = nil
                node.driverInternalInfo[persistentDeviceKey] = .string(device.rawValue)
            } else {
                node.driverInternalInfo[nextBootPersistentKey] = .bool(false)
            }
        }
    }

    /// The device a forced node boots from persistently, unless a one-time device is pending.
    static func persistentDevice(of node: Node) -> BootDevice? {
        guard node.driverInternalInfo[nextBootPersistentKey] != .bool(false) else { return nil }
        return node.driverInternalInfo[persistentDeviceKey]?.stringValue.flatMap(BootDevice.init(rawValue:))
    }

    /// Before a power on: sends the persistent device again as a one-time device, or, when a
    /// one-time device is pending, lets this boot use it and clears the mark.
    ///
    /// Unlike Ironic, the re-sent device does not touch the bookkeeping, so the device is
    /// re-applied on every power on rather than every other one.
    static func reapply(_ task: NodeTask, _ info: IPMIDriverInfo, backend: IPMIBackend) async throws {
        guard info.forceBootDevice else { return }
        if task.node.driverInternalInfo[nextBootPersistentKey] == .bool(false) {
            task.updateNode { $0.driverInternalInfo[nextBootPersistentKey] = nil }
            return
        }
        guard let device = task.node.driverInternalInfo[persistentDeviceKey]?.stringValue.flatMap(BootDevice.init(rawValue:)),
            let selector = BootDeviceSelector(device)
        else { return }
        let efi = BootMode.of(task.node) == .uefi
        task.logger.debug("re-applying the forced boot device before power on", metadata: ["device": "\(device.rawValue)"])
        try await backend.run("chassis bootdev \(device.rawValue)", task, info) { client, options in
            try await client.setBootDevice(selector, persistent: false, efi: efi, options)
        }
    }
}

extension BootDeviceSelector {
    /// The selector for one of Ironic's boot devices; nil for devices IPMI cannot select.
    init?(_ device: BootDevice) {
        switch device {
        case .pxe: self = .pxe
        case .disk: self = .disk
        case .cdrom: self = .cdrom
        case .bios: self = .bios
        case .safe: self = .safe
        case .floppy: self = .floppy
        case .wanboot, .uefiHTTP: return nil
        }
    }
}

extension BootDevice {
    /// Ironic's boot device for a selector the BMC reports; nil for none or ones Ironic does not name.
    init?(_ selector: BootDeviceSelector) {
        switch selector {
        case .pxe: self = .pxe
        case .disk: self = .disk
        case .cdrom: self = .cdrom
        case .bios: self = .bios
        case .safe: self = .safe
        case .noOverride, .diagnostic, .floppy: return nil
        }
    }
}
