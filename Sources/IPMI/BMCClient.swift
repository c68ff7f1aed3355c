/// Where a BMC is and how to open a session with it: Ironic's `ipmi_*` driver_info, parsed.
public struct BMCSessionOptions: Sendable, Hashable, Codable {
    /// Host name or IP address of the BMC.
    public var host: String
    /// UDP port (623 by default).
    public var port: Int
    /// User name; nil for the null (anonymous) user.
    public var username: String?
    /// Password; nil for none.
    public var password: String?
    /// Privilege level the session requests.
    public var privilege: PrivilegeLevel
    /// IPMI 2.0 (LAN+, RMCP+) or IPMI 1.5 (LAN, MD5 authentication).
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
    public init(
        host: String, port: Int = 623, username: String? = nil, password: String? = nil,
        privilege: PrivilegeLevel = .administrator, protocolVersion: ProtocolVersion = .v2_0,
        cipherSuite: Int? = nil, kgKey: [UInt8]? = nil, workarounds: Set<String> = [],
        sessionTimeout: Duration = .seconds(5), retransmissionTimeout: Duration = .seconds(1)
    ) {
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
    /// Whether system power is on.
    public var powerOn: Bool
    /// Whether the BMC reports a main power fault or a power control fault.
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
    /// The device the next boot (or every boot) uses.
    public var device: BootDeviceSelector
    /// Whether the flags apply to all future boots, not just the next one.
    public var persistent: Bool
    /// Whether the BIOS boot type is EFI rather than legacy.
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
    /// Device ID byte.
    public var deviceID: UInt8
    /// Major firmware revision.
    public var firmwareMajor: UInt8
    /// Minor firmware revision, BCD-decoded (0x15 on the wire is 15).
    public var firmwareMinor: UInt8
    /// IANA enterprise number of the manufacturer (20 bits).
    public var manufacturerID: UInt32
    /// Manufacturer-defined product ID.
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
    /// The record's ID in the SEL.
    public var recordID: UInt16
    /// Seconds since 1970 as the BMC stamped it (nil for non-timestamped records).
    public var timestamp: UInt32?
    /// Record type (0x02 system event, 0xC0-0xDF OEM timestamped, 0xE0-0xFF OEM).
    public var recordType: UInt8
    /// Sensor type code (system event records only).
    public var sensorType: UInt8?
    /// Number of the sensor that generated the event (system event records only).
    public var sensorNumber: UInt8?
    /// Event direction: true for deassertion.
    public var deassertion: Bool
    /// Event/reading type code (system event records only).
    public var eventType: UInt8?
    /// Event data 1-3 for system events; the OEM bytes for OEM records.
    public var eventData: [UInt8]
    /// A human-readable description (FreeIPMI's interpretation where available).
    public var description: String

    /// Creates a record.
    public init(
        recordID: UInt16, timestamp: UInt32?, recordType: UInt8, sensorType: UInt8?, sensorNumber: UInt8?,
        deassertion: Bool, eventType: UInt8?, eventData: [UInt8], description: String
    ) {
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
    /// Sensor name (the SDR's ID string).
    public var name: String
    /// Sensor type ("Temperature", "Fan", ...).
    public var type: String
    /// The reading in `unit`; nil for discrete or unreadable sensors.
    public var value: Double?
    /// Abbreviated unit ("C", "RPM", "V"); nil when unitless.
    public var unit: String?
    /// FreeIPMI's event message for the reading ("OK" when nothing is asserted), or why there is no reading.
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
    /// Set System Boot Options, "boot flag valid bit clearing" parameter: asks the BMC to keep
    /// a one-time boot device past its 60-second expiry (Ironic's `ipmi_disable_boot_timeout`).
    func disableBootFlagTimeout(_ options: BMCSessionOptions) async throws
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

    /// The coarse classification.
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

    /// The message, with the completion code when there is one.
    public var description: String {
        if let completionCode { return "\(message) (completion code 0x\(String(completionCode, radix: 16)))" }
        return message
    }
}

extension BMCClient {
    /// Clients that cannot send it say so; `FreeIPMIClient` sends it.
    public func disableBootFlagTimeout(_ options: BMCSessionOptions) async throws {
        throw IPMIError(kind: .invalidRequest, message: "This BMC client cannot disable the boot flag timeout.")
    }
}
