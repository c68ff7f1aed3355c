import Core
import IPMI
import IPMIHardware
import Logging

/// A task on `node`, holding the exclusive lock unless `shared`.
func makeTask(_ node: Node, shared: Bool = false) -> NodeTask {
    NodeTask(node: node, conductor: "test-conductor", isShared: shared, logger: Logger(label: "IPMIHardwareTests"))
}

/// An ipmi node with `driverInfo`.
func ipmiNode(_ driverInfo: [String: JSONValue] = ["ipmi_address": "127.0.0.1"]) -> Node {
    var node = Node(driver: "ipmi")
    node.driverInfo = driverInfo
    return node
}

/// Settings that keep waits short in tests.
let fastSettings = IPMIDriverSettings(
    // Generous waits: a loaded machine must not turn a state change into a timeout (the tests
    // of timeouts give their own, short ones).
    sessionTimeout: .seconds(2), powerStateChangeTimeout: .seconds(30), softPowerOffTimeout: .seconds(30),
    pollInterval: .milliseconds(10), maximumPollInterval: .milliseconds(50))

/// A BMC in memory: chassis power, boot flags, and a log of the commands it received.
actor MockBMC: BMCClient {
    var powerOn = false
    var flags = BootFlags(device: .noOverride, persistent: false, efi: false)
    /// Commands received, in order (`status`, `on`, `off`, `soft`, `diag`, `bootdev pxe persistent efi`, ...).
    var log: [String] = []
    /// Every session's options, for checking what driver_info turned into.
    var sessions: [BMCSessionOptions] = []
    /// When set, every command fails with this error.
    var failure: IPMIError?
    /// When set, the soft shutdown request is ignored (an OS that does not react to ACPI).
    var ignoresSoftShutdown = false
    /// Status reads that still show the old state after a power change.
    var lag = 0
    private var pendingPower: Bool?
    private var lagLeft = 0
    var resets: [Bool] = []
    /// When set, only the BMC reset fails with this error (after the reset took effect).
    var resetFailure: IPMIError?
    func setResetFailure(_ error: IPMIError?) { resetFailure = error }

    func setFailure(_ error: IPMIError?) { failure = error }
    func setPower(_ on: Bool) { powerOn = on }
    func setIgnoresSoftShutdown(_ value: Bool) { ignoresSoftShutdown = value }
    func setLag(_ value: Int) { lag = value }
    func clearLog() { log = [] }

    private func enter(_ entry: String, _ options: BMCSessionOptions) throws {
        sessions.append(options)
        log.append(entry)
        if let failure { throw failure }
    }

    private func change(to on: Bool) {
        if lag > 0 {
            pendingPower = on
            lagLeft = lag
        } else {
            powerOn = on
        }
    }

    func chassisStatus(_ options: BMCSessionOptions) async throws -> ChassisStatus {
        try enter("status", options)
        if let pending = pendingPower {
            if lagLeft == 0 {
                powerOn = pending
                pendingPower = nil
            } else {
                lagLeft -= 1
            }
        }
        return ChassisStatus(powerOn: powerOn)
    }

    func chassisControl(_ action: ChassisControl, _ options: BMCSessionOptions) async throws {
        switch action {
        case .powerOn: try enter("on", options); change(to: true)
        case .powerOff: try enter("off", options); change(to: false)
        case .powerCycle: try enter("cycle", options); change(to: true)
        case .hardReset: try enter("reset", options)
        case .diagnosticInterrupt: try enter("diag", options)
        case .softShutdown:
            try enter("soft", options)
            if !ignoresSoftShutdown { change(to: false) }
        }
    }

    func setBootDevice(_ device: BootDeviceSelector, persistent: Bool, efi: Bool, _ options: BMCSessionOptions) async throws {
        try enter("bootdev \(device.rawValue)\(persistent ? " persistent" : "")\(efi ? " efi" : "")", options)
        flags = BootFlags(device: device, persistent: persistent, efi: efi)
    }

    func bootFlags(_ options: BMCSessionOptions) async throws -> BootFlags {
        try enter("bootparam", options)
        return flags
    }

    func resetBMC(warm: Bool, _ options: BMCSessionOptions) async throws {
        try enter("bmc reset \(warm ? "warm" : "cold")", options)
        resets.append(warm)
        if let resetFailure { throw resetFailure }
    }

    func deviceID(_ options: BMCSessionOptions) async throws -> DeviceID {
        try enter("mc info", options)
        return DeviceID(deviceID: 0x20, firmwareMajor: 9, firmwareMinor: 8, manufacturerID: 0x1291, productID: 0xf02)
    }

    func readSEL(after recordID: UInt16?, _ options: BMCSessionOptions) async throws -> [SELRecord] {
        try enter("sel", options)
        return []
    }

    func clearSEL(_ options: BMCSessionOptions) async throws {
        try enter("sel clear", options)
    }

    func sensors(_ options: BMCSessionOptions) async throws -> [SensorReading] {
        try enter("sensors", options)
        return [SensorReading(name: "Temp", type: "Temperature", value: 42, unit: "C", state: "ok")]
    }
}
