/// Behaviour common to every interface implementation.
public protocol HardwareInterface: Sendable {
    /// The kind of interface this is.
    static var kind: InterfaceKind { get }
    /// The name nodes use to select it (`fake`, `noop`, `no-console`, ...).
    var name: String { get }
    /// The `driver_info` keys it reads, with a description (required keys say "Required.").
    var properties: [String: String] { get }
    /// Cheap checks of the node's configuration; throws `IronicError` with the reason.
    func validate(_ task: NodeTask) async throws
}

extension HardwareInterface {
    public var properties: [String: String] { [:] }
    public func validate(_ task: NodeTask) async throws {}
}

/// Boot devices, with Ironic's wire strings.
public enum BootDevice: String, Codable, Sendable, CaseIterable, Hashable {
    case pxe, disk, cdrom, bios, safe, wanboot, uefiHTTP = "uefi-http", floppy
}

/// A node's boot device as the management interface reports it.
public struct BootDeviceState: Sendable, Hashable, Codable {
    public var bootDevice: BootDevice?
    public var persistent: Bool?

    /// Creates a report.
    public init(bootDevice: BootDevice?, persistent: Bool?) {
        self.bootDevice = bootDevice
        self.persistent = persistent
    }
}

/// Whether an asynchronous driver operation finished or waits for an outside event
/// (a ramdisk call-back); the conductor moves the node to the matching wait state.
public enum DriverStepResult: Sendable, Hashable {
    case done
    case wait
}

/// Reads and changes a node's power.
public protocol PowerInterface: HardwareInterface {
    /// The node's current power state as the hardware reports it.
    func powerState(of task: NodeTask) async throws -> PowerState
    /// Drives the node to `target` (on, off, soft power off), waiting up to `timeout`.
    func setPowerState(_ target: PowerState, on task: NodeTask, timeout: Duration?) async throws
    /// Reboots the node (hard, or soft when `soft` is set).
    func reboot(_ task: NodeTask, soft: Bool, timeout: Duration?) async throws
    /// The targets this interface accepts.
    func supportedPowerStates(_ task: NodeTask) -> [PowerState]
}

extension PowerInterface {
    public static var kind: InterfaceKind { .power }
}

/// Boot device, NMI and sensor access through the BMC.
public protocol ManagementInterface: HardwareInterface {
    func supportedBootDevices(_ task: NodeTask) async throws -> [BootDevice]
    func setBootDevice(_ device: BootDevice, persistent: Bool, on task: NodeTask) async throws
    func bootDevice(of task: NodeTask) async throws -> BootDeviceState
    /// Injects a non-maskable interrupt; throws `unsupportedDriverExtension` where unsupported.
    func injectNMI(_ task: NodeTask) async throws
}

extension ManagementInterface {
    public static var kind: InterfaceKind { .management }

    /// Makes `disk` the persistent boot device, for an instance that boots from its disk. A
    /// management interface that cannot select the disk (`fake` offers only `pxe`, as in
    /// Ironic) leaves the machine to its firmware's boot order.
    public func bootFromDisk(on task: NodeTask) async throws {
        guard try await supportedBootDevices(task).contains(.disk) else { return }
        try await setBootDevice(.disk, persistent: true, on: task)
    }
}

/// Writes an image to the node and tears it down again.
public protocol DeployInterface: HardwareInterface {
    /// Deploys the node's instance; `.wait` moves the node to `wait call-back`.
    func deploy(_ task: NodeTask) async throws -> DriverStepResult
    /// Undeploys; the node is powered off afterwards.
    func tearDown(_ task: NodeTask) async throws
}

extension DeployInterface {
    public static var kind: InterfaceKind { .deploy }
}

/// Why a node boots the deploy ramdisk; the boot interface passes the matching kernel
/// parameters (inspection adds `ipa-inspection-callback-url`).
public enum RamdiskPurpose: String, Sendable, Hashable, Codable, CaseIterable {
    case deploy, clean, inspect, rescue, service
}

/// Prepares the boot of ramdisks and instances.
///
/// The boot interface writes what the machine's firmware fetches (boot scripts, kernel and
/// ramdisk); the conductor then sets the boot device and powers the machine.
public protocol BootInterface: HardwareInterface {
    /// Makes the node's next network boot load the deploy ramdisk for `purpose`.
    func prepareRamdisk(_ task: NodeTask, purpose: RamdiskPurpose) async throws
    /// Removes what `prepareRamdisk` wrote.
    func cleanUpRamdisk(_ task: NodeTask) async throws
    /// Makes the node boot its deployed instance (for whole-disk images: from its disk).
    func prepareInstance(_ task: NodeTask) async throws
    /// Removes what `prepareInstance` wrote.
    func cleanUpInstance(_ task: NodeTask) async throws
    /// The boot device the ramdisk boots from (`pxe` for network boot).
    var ramdiskBootDevice: BootDevice { get }
}

extension BootInterface {
    public static var kind: InterfaceKind { .boot }
    public func prepareRamdisk(_ task: NodeTask, purpose: RamdiskPurpose) async throws {}
    public func cleanUpRamdisk(_ task: NodeTask) async throws {}
    public func prepareInstance(_ task: NodeTask) async throws {}
    public func cleanUpInstance(_ task: NodeTask) async throws {}
    public var ramdiskBootDevice: BootDevice { .pxe }
}

/// How a client reaches a node's serial console.
public struct ConsoleInfo: Sendable, Hashable, Codable {
    /// `socat`, `shellinabox`, `vnc`, ...
    public var type: String
    public var url: String

    /// Creates console info.
    public init(type: String, url: String) {
        self.type = type
        self.url = url
    }
}

/// Serial console sessions.
public protocol ConsoleInterface: HardwareInterface {
    func startConsole(_ task: NodeTask) async throws
    func stopConsole(_ task: NodeTask) async throws
    /// Where the console is; must not disturb the BMC.
    func consoleInfo(_ task: NodeTask) async throws -> ConsoleInfo
}

extension ConsoleInterface {
    public static var kind: InterfaceKind { .console }
}

/// Hardware inspection.
public protocol InspectInterface: HardwareInterface {
    /// Inspects the node, updating its properties; `.wait` moves it to `inspect wait`.
    func inspectHardware(_ task: NodeTask) async throws -> DriverStepResult
}

extension InspectInterface {
    public static var kind: InterfaceKind { .inspect }
}

/// Rescue mode.
public protocol RescueInterface: HardwareInterface {
    func rescue(_ task: NodeTask) async throws -> DriverStepResult
    func unrescue(_ task: NodeTask) async throws
}

extension RescueInterface {
    public static var kind: InterfaceKind { .rescue }
}

/// Network plumbing for VIFs.
public protocol NetworkInterface: HardwareInterface {
    /// Picks the port or portgroup to carry a VIF: returns its UUID, or throws when none is free.
    func chooseAttachmentTarget(ports: [NodePort], portgroups: [Portgroup], vifID: String, task: NodeTask) throws -> String
}

extension NetworkInterface {
    public static var kind: InterfaceKind { .network }
}

/// Vendor-specific methods (`/vendor_passthru`).
public protocol VendorInterface: HardwareInterface {
    /// Method name → allowed HTTP methods and description.
    var routes: [String: VendorRoute] { get }
    /// Runs a method; returns the JSON to send back (`nil` for none).
    func call(_ method: String, httpMethod: String, body: JSONValue?, task: NodeTask) async throws -> JSONValue?
}

extension VendorInterface {
    public static var kind: InterfaceKind { .vendor }
}

/// One vendor passthru method.
public struct VendorRoute: Sendable, Hashable, Codable {
    public var httpMethods: [String]
    public var async: Bool
    public var description: String
    public var attach: Bool

    /// Creates a route description.
    public init(httpMethods: [String], async: Bool, description: String, attach: Bool = false) {
        self.httpMethods = httpMethods
        self.async = async
        self.description = description
        self.attach = attach
    }
}

/// RAID configuration.
public protocol RAIDInterface: HardwareInterface {}
extension RAIDInterface { public static var kind: InterfaceKind { .raid } }

/// BIOS settings.
public protocol BIOSInterface: HardwareInterface {}
extension BIOSInterface { public static var kind: InterfaceKind { .bios } }

/// Volume attachment.
public protocol StorageInterface: HardwareInterface {}
extension StorageInterface { public static var kind: InterfaceKind { .storage } }

/// Firmware updates.
public protocol FirmwareInterface: HardwareInterface {}
extension FirmwareInterface { public static var kind: InterfaceKind { .firmware } }
