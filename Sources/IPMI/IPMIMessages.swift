/// Request bytes and response parsing for the commands the client sends, as pure functions
/// (IPMI 2.0 specification section numbers in the comments).
enum IPMIMessages {
    enum NetFunction {
        static let chassis: UInt8 = 0x00
        static let sensorEvent: UInt8 = 0x04
        static let application: UInt8 = 0x06
        static let storage: UInt8 = 0x0A
    }

    enum Command {
        static let getChassisStatus: UInt8 = 0x01  // 28.2
        static let chassisControl: UInt8 = 0x02  // 28.3
        static let setSystemBootOptions: UInt8 = 0x08  // 28.12
        static let getSystemBootOptions: UInt8 = 0x09  // 28.13
        static let getDeviceID: UInt8 = 0x01  // 20.1
        static let coldReset: UInt8 = 0x02  // 20.2
        static let warmReset: UInt8 = 0x03  // 20.3
        static let getSDRRepositoryInfo: UInt8 = 0x20  // 33.9
        static let reserveSDRRepository: UInt8 = 0x22  // 33.11
        static let getSDR: UInt8 = 0x23  // 33.12
        static let getSELInfo: UInt8 = 0x40  // 31.2
        static let reserveSEL: UInt8 = 0x42  // 31.4
        static let getSELEntry: UInt8 = 0x43  // 31.5
        static let clearSEL: UInt8 = 0x47  // 31.9
    }

    static func malformed(_ what: String, _ data: [UInt8]) -> IPMIError {
        IPMIError(kind: .other, message: "Malformed \(what) response: \(hex(data))")
    }

    /// `01 02 ff` style hex.
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { byte in
            let text = String(byte, radix: 16)
            return text.count < 2 ? "0" + text : text
        }.joined(separator: " ")
    }

    static func littleEndian16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        UInt16(bytes[bytes.startIndex]) | UInt16(bytes[bytes.startIndex + 1]) << 8
    }

    static func littleEndianBytes(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }

    // MARK: Chassis

    /// Get Chassis Status: byte 1 is the current power state (bit 0 power on, bit 3 main power
    /// fault, bit 4 power control fault).
    static func chassisStatus(_ data: [UInt8]) throws(IPMIError) -> ChassisStatus {
        guard let power = data.first, data.count >= 3 else { throw malformed("Get Chassis Status", data) }
        return ChassisStatus(powerOn: power & 0x01 != 0, powerFault: power & 0x18 != 0)
    }

    /// Chassis Control's request byte.
    static func chassisControl(_ action: ChassisControl) -> UInt8 {
        switch action {
        case .powerOff: 0x00
        case .powerOn: 0x01
        case .powerCycle: 0x02
        case .hardReset: 0x03
        case .diagnosticInterrupt: 0x04
        case .softShutdown: 0x05
        }
    }

    // MARK: Boot options

    /// The boot flags parameter (number 5) of the system boot options.
    static let bootFlagsParameter: UInt8 = 0x05

    /// Boot device selector (data 2, bits 5:2) for each device.
    static func deviceSelector(_ device: BootDeviceSelector) -> UInt8 {
        switch device {
        case .noOverride: 0x0
        case .pxe: 0x1
        case .disk: 0x2
        case .safe: 0x3
        case .diagnostic: 0x4
        case .cdrom: 0x5
        case .bios: 0x6
        case .floppy: 0xF
        }
    }

    static func device(selector: UInt8) -> BootDeviceSelector? {
        switch selector {
        case 0x0: .noOverride
        case 0x1: .pxe
        case 0x2: .disk
        case 0x3: .safe
        case 0x4: .diagnostic
        case 0x5: .cdrom
        case 0x6: .bios
        case 0xF: .floppy
        default: nil
        }
    }

    /// Set System Boot Options request data for the boot flags: the valid bit set, persistence,
    /// the BIOS boot type (EFI when `efi`), and the device.
    static func setBootFlags(_ device: BootDeviceSelector, persistent: Bool, efi: Bool) -> [UInt8] {
        var flags: UInt8 = 0x80
        if persistent { flags |= 0x40 }
        if efi { flags |= 0x20 }
        return [bootFlagsParameter, flags, deviceSelector(device) << 2, 0x00, 0x00, 0x00]
    }

    /// Get System Boot Options request data for the boot flags.
    static let getBootFlagsRequest: [UInt8] = [bootFlagsParameter, 0x00, 0x00]

    /// Get System Boot Options response: parameter version, parameter selector (bit 7: parameter
    /// locked/invalid), then the five boot flag bytes.
    ///
    /// The device is reported whether or not the boot flags valid bit (data 1 bit 7) is set, as
    /// ipmitool and Ironic do: some BMCs (ipmi_sim among them) never set it.
    static func bootFlags(_ data: [UInt8]) throws(IPMIError) -> BootFlags {
        guard data.count >= 4, data[1] & 0x7F == bootFlagsParameter else { throw malformed("Get System Boot Options", data) }
        let flags = data[2]
        let selector = (data[3] >> 2) & 0x0F
        let device = device(selector: selector) ?? .noOverride
        return BootFlags(device: device, persistent: flags & 0x40 != 0, efi: flags & 0x20 != 0)
    }

    // MARK: Device ID

    /// Get Device ID (20.1). The firmware minor revision is BCD on the wire and decoded here
    /// (0x15 → 15).
    static func deviceID(_ data: [UInt8]) throws(IPMIError) -> DeviceID {
        guard data.count >= 11 else { throw malformed("Get Device ID", data) }
        let minorBCD = data[3]
        let minor = minorBCD >> 4 <= 9 && minorBCD & 0x0F <= 9 ? (minorBCD >> 4) * 10 + (minorBCD & 0x0F) : minorBCD
        let manufacturer = UInt32(data[6]) | UInt32(data[7]) << 8 | UInt32(data[8] & 0x0F) << 16
        return DeviceID(
            deviceID: data[0], firmwareMajor: data[2] & 0x7F, firmwareMinor: minor,
            manufacturerID: manufacturer, productID: littleEndian16(data[9...10]))
    }

    // MARK: SEL

    /// Get SEL Entry request: reservation, record ID, offset, bytes to read (0xFF: all).
    static func getSELEntry(_ recordID: UInt16, reservation: UInt16 = 0, offset: UInt8 = 0, count: UInt8 = 0xFF) -> [UInt8] {
        littleEndianBytes(reservation) + littleEndianBytes(recordID) + [offset, count]
    }

    /// A 16-byte SEL record (31.6 and 32), without its FreeIPMI description.
    static func selRecord(_ bytes: [UInt8], assumeSystemEvent: Bool = false) throws(IPMIError) -> SELRecord {
        guard bytes.count >= 16 else { throw malformed("SEL record", bytes) }
        let id = littleEndian16(bytes[0...1])
        let type = bytes[2]
        func timestamp() -> UInt32 {
            UInt32(bytes[3]) | UInt32(bytes[4]) << 8 | UInt32(bytes[5]) << 16 | UInt32(bytes[6]) << 24
        }
        switch type {
        case 0xC0...0xDF:
            // OEM timestamped: timestamp, manufacturer ID (3), OEM data (6).
            return SELRecord(
                recordID: id, timestamp: timestamp(), recordType: type, sensorType: nil, sensorNumber: nil,
                deassertion: false, eventType: nil, eventData: Array(bytes[10..<16]), description: "")
        case 0xE0...0xFF:
            // OEM non-timestamped: 13 bytes of OEM data.
            return SELRecord(
                recordID: id, timestamp: nil, recordType: type, sensorType: nil, sensorNumber: nil,
                deassertion: false, eventType: nil, eventData: Array(bytes[3..<16]), description: "")
        default:
            guard type == 0x02 || assumeSystemEvent else {
                return SELRecord(
                    recordID: id, timestamp: nil, recordType: type, sensorType: nil, sensorNumber: nil,
                    deassertion: false, eventType: nil, eventData: Array(bytes[3..<16]), description: "")
            }
            // System event: timestamp, generator ID (2), EvM revision, sensor type, sensor
            // number, event dir | event type, event data 1-3.
            return SELRecord(
                recordID: id, timestamp: timestamp(), recordType: type, sensorType: bytes[10], sensorNumber: bytes[11],
                deassertion: bytes[12] & 0x80 != 0, eventType: bytes[12] & 0x7F, eventData: Array(bytes[13..<16]),
                description: "")
        }
    }

    /// A description when FreeIPMI has none: the record's fields in hex.
    static func hexSummary(_ record: SELRecord, raw: [UInt8]) -> String {
        switch record.recordType {
        case 0xC0...0xDF:
            let manufacturer = UInt32(raw[7]) | UInt32(raw[8]) << 8 | UInt32(raw[9]) << 16
            return "OEM timestamped record type 0x\(hex([record.recordType])), manufacturer ID \(manufacturer): "
                + hex(record.eventData)
        case 0xE0...0xFF:
            return "OEM record type 0x\(hex([record.recordType])): \(hex(record.eventData))"
        default:
            if let sensorType = record.sensorType, let sensorNumber = record.sensorNumber, let eventType = record.eventType {
                return "Sensor type 0x\(hex([sensorType])) #\(sensorNumber), event type 0x\(hex([eventType])), "
                    + "\(record.deassertion ? "deasserted" : "asserted"), data \(hex(record.eventData))"
            }
            return "Record type 0x\(hex([record.recordType])): \(hex(raw))"
        }
    }

    /// Clear SEL request: reservation, "CLR", then 0xAA (initiate erase) or 0x00 (get status).
    static func clearSEL(reservation: UInt16, initiate: Bool) -> [UInt8] {
        littleEndianBytes(reservation) + [0x43, 0x4C, 0x52, initiate ? 0xAA : 0x00]
    }

    // MARK: SDR

    /// Get SDR request: reservation, record ID, offset, bytes to read.
    static func getSDR(_ recordID: UInt16, reservation: UInt16, offset: UInt8, count: UInt8) -> [UInt8] {
        littleEndianBytes(reservation) + littleEndianBytes(recordID) + [offset, count]
    }
}
