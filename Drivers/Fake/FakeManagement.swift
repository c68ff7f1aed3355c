import Core

/// `fake` management: boot device bookkeeping without a BMC.
///
/// The boot device is kept in `driver_internal_info` (`fake_boot_device`,
/// `fake_boot_device_persistent`) so a set is visible to the next get, even from another task.
/// Like Ironic's fake, only `pxe` is supported and NMI injection is not.
public struct FakeManagement: ManagementInterface {
    /// `fake`.
    public var name: String { "fake" }

    /// `driver_internal_info` key holding the boot device's wire string.
    public static let bootDeviceKey = "fake_boot_device"
    /// `driver_internal_info` key holding whether the boot device is persistent.
    public static let persistentKey = "fake_boot_device_persistent"

    /// Creates the implementation.
    public init() {}

    /// `pxe` only, as Ironic's fake reports.
    public func supportedBootDevices(_ task: NodeTask) async throws -> [BootDevice] {
        [.pxe]
    }

    /// Records `device` in the node.
    ///
    /// - Throws: `InvalidParameterValue` for a device outside `supportedBootDevices(_:)`.
    public func setBootDevice(_ device: BootDevice, persistent: Bool, on task: NodeTask) async throws {
        guard try await supportedBootDevices(task).contains(device) else {
            throw IronicError.invalidParameterValue("Invalid boot device \(device.rawValue) specified.")
        }
        task.updateNode {
            $0.driverInternalInfo[Self.bootDeviceKey] = .string(device.rawValue)
            $0.driverInternalInfo[Self.persistentKey] = .bool(persistent)
        }
    }

    /// The recorded boot device; `pxe`, not persistent, until one is set (Ironic's fake answer).
    public func bootDevice(of task: NodeTask) async throws -> BootDeviceState {
        let info = task.node.driverInternalInfo
        let device = info[Self.bootDeviceKey]?.stringValue.flatMap(BootDevice.init(rawValue:)) ?? .pxe
        return BootDeviceState(bootDevice: device, persistent: info[Self.persistentKey]?.boolValue ?? false)
    }

    /// Fails with `UnsupportedDriverExtension` for `inject_nmi`: Ironic's fake keeps the base
    /// class's refusal, and a test of the NMI path should see what a real API would answer.
    public func injectNMI(_ task: NodeTask) async throws {
        throw IronicError.unsupportedDriverExtension(driver: task.node.driver, extension: "inject_nmi")
    }
}
