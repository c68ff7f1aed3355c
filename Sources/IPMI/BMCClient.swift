/// Where a BMC is and how to open a session with it: Ironic's `ipmi_*` driver_info, parsed.
public struct BMCSessionOptions: Sendable, Hashable, Codable {
    /// Host name or IP address of the BMC.
    public var host: String
    /// UDP port (623 by default).
    public var port: Int
    public var username: String?
    public var password: String?
    public var privilege: PrivilegeLevel
    public var protocolVersion: ProtocolVersion
    /// IPMI 2.0 cipher suite ID; nil lets FreeIPMI choose (3).
    public var cipherSuite: Int?
    /// IPMI 2.0 K_g key as bytes (from `ipmi_hex_kg_key`).
    public var kgKey: [UInt8]?
    /// FreeIPMI workaround names that apply to sessions (`opensesspriv`, `authcap`, ...).
    public var workarounds: Set<String>
    /// How long one session may take before it counts as failed.
    public var sessionTimeout: Duration
    /// Retransmission interval inside a session.
    public var retransmissionTimeout: Duration

    /// Creates options; defaults match Ironic's (`ADMINISTRATOR`, IPMI 2.0, port 623).
    public init(host: String, port: Int = 623, username: String? = nil, password: String? = nil,
                privilege: PrivilegeLevel = .administrator, protocolVersion: ProtocolVersion = .v2_0,
                cipherSuite: Int? = nil, kgKey: [UInt8]? = nil, workarounds: Set<String> = [],
                sessionTimeout: Duration = .seconds(5), retransmissionTimeout: Duration = .seconds(1)) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.privilege = privilege
        self.protocolVersion = protocolVersion
        self.cipherSuite = cipherSuite
        self.kgKey = kgKey
        self.workarounds = workarounds
        self.sessionTimeout = sessionTimeout
        self.retransmissionTimeout = retransmissionTimeout
    }

    /// `host:port` as FreeIPMI takes it.
    public var endpoint: String { "\(host):\(port)" }
}

/// IPMI session privilege levels (Ironic's `ipmi_priv_level` values).
public enum PrivilegeLevel: String, Sendable, Hashable, Codable, CaseIterable {
    case callback = "CALLBACK"
    case user = "USER"
    case `operator` = "OPERATOR"
    case administrator = "ADMINISTRATOR"
}

/// IPMI protocol versions (Ironic's `ipmi_protocol_version`: "2.0" or "1.5").
public enum ProtocolVersion: String, Sendable, Hashable, Codable, CaseIterable {
    case v2_0 = "2.0"
    case v1_5 = "1.5"
}

/// Chassis Control actions.
public enum ChassisControl: Sendable, Hashable, Codable {
    case powerOff
    case powerOn
    case powerCycle
    case hardReset
    case diagnosticInterrupt
    case softShutdown
}

/// What Get Chassis Status reports that we use.
public struct ChassisStatus: Sendable, Hashable, Codable {
    public var powerOn: Bool
    public var powerFault: Bool

    /// Creates a status.
    public init(powerOn: Bool, powerFault: Bool = false) {
        self.powerOn = powerOn
        self.powerFault = powerFault
    }
}

/// Boot devices of the Set System Boot Options command.
public enum BootDeviceSelector: String, Sendable, Hashable, Codable, CaseIterable {
    case noOverride = "none"
    case pxe
    case disk
    case safe
    case diagnostic
    case cdrom
    case bios
    case floppy
}

/// The boot flags a BMC reports.
public struct BootFlags: Sendable, Hashable, Codable {
    public var device: BootDeviceSelector
    public var persistent: Bool
    public var efi: Bool

    /// Creates boot flags.
    public init(device: BootDeviceSelector, persistent: Bool, efi: Bool) {
        self.device = device
        self.persistent = persistent
        self.efi = efi
    }
}

/// Get Device ID.
public struct DeviceID: Sendable, Hashable, Codable {
    public var deviceID: UInt8
    public var firmwareMajor: UInt8
    public var firmwareMinor: UInt8
    public var manufacturerID: UInt32
    public var productID: UInt16

    /// Creates a device ID.
    public init(deviceID: UInt8, firmwareMajor: UInt8, firmwareMinor: UInt8, manufacturerID: UInt32, productID: UInt16) {
        self.deviceID = deviceID
        self.firmwareMajor = firmwareMajor
        self.firmwareMinor = firmwareMinor
        self.manufacturerID = manufacturerID
        self.productID = productID
    }
}

/// One System Event Log record.
public struct SELRecord: Sendable, Hashable, Codable {
    public var recordID: UInt16
    /// Seconds since 1970 as the BMC stamped it (nil for non-timestamped records).
    public var timestamp: UInt32?
    /// Record type (0x02 system event, 0xC0-0xDF OEM timestamped, 0xE0-0xFF OEM).
    public var recordType: UInt8
    public var sensorType: UInt8?
    public var sensorNumber: UInt8?
    /// Event direction: true for deassertion.
    public var deassertion: Bool
    public var eventType: UInt8?
    public var eventData: [UInt8]
    /// A human-readable description (FreeIPMI's interpretation where available).
    public var description: String

    /// Creates a record.
    public init(recordID: UInt16, timestamp: UInt32?, recordType: UInt8, sensorType: UInt8?, sensorNumber: UInt8?,
                deassertion: Bool, eventType: UInt8?, eventData: [UInt8], description: String) {
        self.recordID = recordID
        self.timestamp = timestamp
        self.recordType = recordType
        self.sensorType = sensorType
        self.sensorNumber = sensorNumber
        self.deassertion = deassertion
        self.eventType = eventType
        self.eventData = eventData
        self.description = description
    }
}

/// One sensor reading.
public struct SensorReading: Sendable, Hashable, Codable {
    public var name: String
    public var type: String
    public var value: Double?
    public var unit: String?
    public var state: String?

    /// Creates a reading.
    public init(name: String, type: String, value: Double?, unit: String?, state: String?) {
        self.name = name
        self.type = type
        self.value = value
        self.unit = unit
        self.state = state
    }
}

/// Talks to BMCs. Every call opens (or reuses) a session described by `options`; every
/// blocking FreeIPMI call runs on the implementation's own bounded thread pool, never on the
/// cooperative pool. Errors are `IPMIError`.
public protocol BMCClient: Sendable {
    func chassisStatus(_ options: BMCSessionOptions) async throws -> ChassisStatus
    func chassisControl(_ action: ChassisControl, _ options: BMCSessionOptions) async throws
    func setBootDevice(_ device: BootDeviceSelector, persistent: Bool, efi: Bool, _ options: BMCSessionOptions) async throws
    func bootFlags(_ options: BMCSessionOptions) async throws -> BootFlags
    func resetBMC(warm: Bool, _ options: BMCSessionOptions) async throws
    func deviceID(_ options: BMCSessionOptions) async throws -> DeviceID
    /// SEL records with an ID after `recordID` (all when nil), oldest first.
    func readSEL(after recordID: UInt16?, _ options: BMCSessionOptions) async throws -> [SELRecord]
    func clearSEL(_ options: BMCSessionOptions) async throws
    func sensors(_ options: BMCSessionOptions) async throws -> [SensorReading]
}

/// A failed IPMI exchange, typed.
public struct IPMIError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, coarsely: callers decide on retries and messages from this.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// The BMC did not answer within the session timeout.
        case timeout
        /// Wrong user name, password, K_g key or privilege.
        case authentication
        /// The address cannot be resolved or reached.
        case unreachable
        /// The BMC answered with a completion code other than success.
        case completionCode
        /// The BMC is busy (completion code 0xC0) or another command is in flight.
        case busy
        /// The request was malformed or unsupported by the BMC.
        case invalidRequest
        /// Anything else FreeIPMI reports.
        case other
    }

    public var kind: Kind
    /// The IPMI completion code, when the BMC sent one.
    public var completionCode: UInt8?
    /// FreeIPMI's message or ours.
    public var message: String

    /// Creates an error.
    public init(kind: Kind, completionCode: UInt8? = nil, message: String) {
        self.kind = kind
        self.completionCode = completionCode
        self.message = message
    }

    public var description: String {
        if let completionCode { return "\(message) (completion code 0x\(String(completionCode, radix: 16)))" }
        return message
    }
}
