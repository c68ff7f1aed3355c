import CFreeIPMI
import Testing

@testable import IPMI

@Suite("Request encoding and response parsing")
struct IPMIMessagesTests {
    @Test("Get Chassis Status: power bit and fault bits")
    func chassisStatus() throws {
        #expect(try IPMIMessages.chassisStatus([0x01, 0x00, 0x00]) == ChassisStatus(powerOn: true, powerFault: false))
        #expect(try IPMIMessages.chassisStatus([0x00, 0x00, 0x00, 0x00]) == ChassisStatus(powerOn: false))
        #expect(try IPMIMessages.chassisStatus([0x09, 0x00, 0x00]) == ChassisStatus(powerOn: true, powerFault: true))
        #expect(try IPMIMessages.chassisStatus([0x10, 0x00, 0x00]).powerFault)
        #expect(throws: IPMIError.self) { try IPMIMessages.chassisStatus([0x01]) }
    }

    @Test("Chassis Control request bytes follow IPMI 2.0 table 28-4")
    func chassisControl() {
        let bytes: [(ChassisControl, UInt8)] = [
            (.powerOff, 0), (.powerOn, 1), (.powerCycle, 2), (.hardReset, 3), (.diagnosticInterrupt, 4), (.softShutdown, 5),
        ]
        for (action, byte) in bytes { #expect(IPMIMessages.chassisControl(action) == byte) }
    }

    @Test("Boot flags: valid bit always set, persistence and EFI bits, device selector in bits 5:2")
    func setBootFlags() {
        #expect(IPMIMessages.setBootFlags(.pxe, persistent: false, efi: false) == [0x05, 0x80, 0x04, 0, 0, 0])
        #expect(IPMIMessages.setBootFlags(.pxe, persistent: true, efi: true) == [0x05, 0xE0, 0x04, 0, 0, 0])
        #expect(IPMIMessages.setBootFlags(.disk, persistent: true, efi: false) == [0x05, 0xC0, 0x08, 0, 0, 0])
        #expect(IPMIMessages.setBootFlags(.cdrom, persistent: false, efi: true) == [0x05, 0xA0, 0x14, 0, 0, 0])
        #expect(IPMIMessages.setBootFlags(.bios, persistent: false, efi: false)[2] == 0x18)
        #expect(IPMIMessages.setBootFlags(.floppy, persistent: false, efi: false)[2] == 0x3C)
        #expect(IPMIMessages.setBootFlags(.noOverride, persistent: false, efi: false)[2] == 0x00)
    }

    @Test("Every boot device survives encoding and decoding", arguments: BootDeviceSelector.allCases)
    func bootDeviceRoundTrip(_ device: BootDeviceSelector) throws {
        for persistent in [false, true] {
            for efi in [false, true] {
                let request = IPMIMessages.setBootFlags(device, persistent: persistent, efi: efi)
                // A Get System Boot Options response: version, parameter, then the five data bytes.
                let response: [UInt8] = [0x01, 0x05] + request[1...]
                #expect(try IPMIMessages.bootFlags(response) == BootFlags(device: device, persistent: persistent, efi: efi))
            }
        }
    }

    @Test("Get System Boot Options as ipmi_sim answers it: valid bit clear, device still reported")
    func bootFlagsFromIPMISim() throws {
        #expect(
            try IPMIMessages.bootFlags([0x01, 0x05, 0x00, 0x14, 0x00, 0x00, 0x00])
                == BootFlags(device: .cdrom, persistent: false, efi: false))
        #expect(throws: IPMIError.self) { try IPMIMessages.bootFlags([0x01, 0x04, 0x00, 0x00]) }
        // Reserved selectors read as no override.
        #expect(try IPMIMessages.bootFlags([0x01, 0x05, 0x80, 0x1C, 0, 0, 0]).device == .noOverride)
    }

    @Test("Get Device ID: firmware minor is BCD, manufacturer is 20 bits little-endian")
    func deviceID() throws {
        // ipmi_sim's answer for `mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02`.
        let data: [UInt8] = [0x00, 0x03, 0x09, 0x08, 0x02, 0x9F, 0x91, 0x12, 0x00, 0x02, 0x0F, 0, 0, 0, 0]
        #expect(
            try IPMIMessages.deviceID(data)
                == DeviceID(deviceID: 0, firmwareMajor: 9, firmwareMinor: 8, manufacturerID: 0x1291, productID: 0x0F02))
        let other: [UInt8] = [0x20, 0x81, 0x82, 0x15, 0x02, 0xBF, 0x57, 0x01, 0xF0, 0x34, 0x12]
        let parsed = try IPMIMessages.deviceID(other)
        #expect(parsed.firmwareMajor == 2)  // bit 7 is "device available", not part of the revision
        #expect(parsed.firmwareMinor == 15)
        #expect(parsed.manufacturerID == 0x157)  // top nibble of the third byte is reserved
        #expect(parsed.productID == 0x1234)
        #expect(throws: IPMIError.self) { try IPMIMessages.deviceID([0x00, 0x01]) }
    }

    @Test("A system event SEL record is split into its fields")
    func systemEventRecord() throws {
        let raw: [UInt8] = [0x05, 0x01, 0x02, 0x78, 0x56, 0x34, 0x12, 0x20, 0x00, 0x04, 0x01, 0x07, 0x81, 0x59, 0x10, 0x20]
        let record = try IPMIMessages.selRecord(raw)
        #expect(record.recordID == 0x0105)
        #expect(record.timestamp == 0x1234_5678)
        #expect(record.recordType == 0x02)
        #expect(record.sensorType == 0x01)
        #expect(record.sensorNumber == 0x07)
        #expect(record.deassertion)
        #expect(record.eventType == 0x01)
        #expect(record.eventData == [0x59, 0x10, 0x20])
        #expect(IPMIMessages.hexSummary(record, raw: raw) == "Sensor type 0x01 #7, event type 0x01, deasserted, data 59 10 20")
    }

    @Test("OEM SEL records keep their OEM bytes; only timestamped ones have a timestamp")
    func oemRecords() throws {
        let timestamped: [UInt8] = [0x02, 0x00, 0xC1, 0x01, 0x00, 0x00, 0x00, 0x57, 0x01, 0x00, 1, 2, 3, 4, 5, 6]
        let record = try IPMIMessages.selRecord(timestamped)
        #expect(record.timestamp == 1)
        #expect(record.sensorType == nil)
        #expect(record.eventData == [1, 2, 3, 4, 5, 6])
        #expect(
            IPMIMessages.hexSummary(record, raw: timestamped) == "OEM timestamped record type 0xc1, manufacturer ID 343: 01 02 03 04 05 06")

        let plain: [UInt8] = [0x03, 0x00, 0xE5] + Array(1...13)
        let oem = try IPMIMessages.selRecord(plain)
        #expect(oem.timestamp == nil)
        #expect(oem.eventData == Array(1...13))
        #expect(IPMIMessages.hexSummary(oem, raw: plain).hasPrefix("OEM record type 0xe5: 01 02"))
    }

    @Test("Unknown SEL record types are system events only with assumesystemevent")
    func unknownRecordType() throws {
        let raw: [UInt8] = [0x01, 0x00, 0x10, 0, 0, 0, 0, 0x20, 0, 0x04, 0x01, 0x01, 0x01, 0, 0, 0]
        #expect(try IPMIMessages.selRecord(raw).sensorType == nil)
        #expect(try IPMIMessages.selRecord(raw, assumeSystemEvent: true).sensorType == 0x01)
    }

    @Test("SEL and SDR requests carry little-endian reservation and record IDs")
    func repositoryRequests() {
        #expect(IPMIMessages.getSELEntry(0x1234) == [0, 0, 0x34, 0x12, 0, 0xFF])
        #expect(IPMIMessages.getSELEntry(0x0001, reservation: 0xBEEF, offset: 8, count: 8) == [0xEF, 0xBE, 0x01, 0x00, 8, 8])
        #expect(IPMIMessages.clearSEL(reservation: 0x0102, initiate: true) == [0x02, 0x01, 0x43, 0x4C, 0x52, 0xAA])
        #expect(IPMIMessages.clearSEL(reservation: 0x0102, initiate: false).last == 0x00)
        #expect(IPMIMessages.getSDR(0x0002, reservation: 0x0001, offset: 5, count: 16) == [0x01, 0x00, 0x02, 0x00, 5, 16])
    }
}

@Suite("Completion codes and FreeIPMI errors as IPMIError kinds")
struct IPMIErrorMappingTests {
    @Test(
        "Completion codes map to kinds",
        arguments: [
            (0xC0, IPMIError.Kind.busy), (0xC3, .timeout), (0xD0, .busy), (0xD1, .busy), (0xD2, .busy),
            (0xC1, .invalidRequest), (0xC7, .invalidRequest), (0xC9, .invalidRequest), (0xCC, .invalidRequest),
            (0xD4, .authentication), (0xC5, .completionCode), (0xCB, .completionCode), (0xFF, .completionCode),
        ] as [(UInt8, IPMIError.Kind)])
    func completionCodes(_ code: UInt8, _ kind: IPMIError.Kind) {
        #expect(IPMICompletionCode(rawValue: code).kind == kind)
        let error = IPMIError.completion(code, netFunction: 0x00, command: 0x02, endpoint: "bmc:623")
        #expect(error.kind == kind)
        #expect(error.completionCode == code)
        #expect(error.code == IPMICompletionCode(rawValue: code))
        #expect(error.message.hasPrefix("Chassis Control to bmc:623: "))
    }

    @Test("Completion code constants and their hex rendering")
    func constants() {
        #expect(IPMICompletionCode.nodeBusy.rawValue == 0xC0)
        #expect(IPMICompletionCode.timeout.rawValue == 0xC3)
        #expect(IPMICompletionCode.nodeBusy.description == "0xC0")
        #expect(IPMICompletionCode.success.description == "0x00")
        #expect(IPMIError(kind: .busy, completionCode: 0xC0, message: "x").isTransient)
        #expect(!IPMIError(kind: .authentication, message: "x").isTransient)
    }

    @Test(
        "libfreeipmi error numbers map to kinds",
        arguments: [
            (IPMI_ERR_USERNAME_INVALID, IPMIError.Kind.authentication), (IPMI_ERR_PASSWORD_INVALID, .authentication),
            (IPMI_ERR_K_G_INVALID, .authentication), (IPMI_ERR_PRIVILEGE_LEVEL_INSUFFICIENT, .authentication),
            (IPMI_ERR_PRIVILEGE_LEVEL_CANNOT_BE_OBTAINED, .authentication), (IPMI_ERR_PASSWORD_VERIFICATION_TIMEOUT, .authentication),
            (IPMI_ERR_CIPHER_SUITE_ID_UNAVAILABLE, .authentication),
            (IPMI_ERR_SESSION_TIMEOUT, .timeout), (IPMI_ERR_CONNECTION_TIMEOUT, .timeout), (IPMI_ERR_MESSAGE_TIMEOUT, .timeout),
            (IPMI_ERR_HOSTNAME_INVALID, .unreachable), (IPMI_ERR_BMC_BUSY, .busy), (IPMI_ERR_DRIVER_BUSY, .busy),
            (IPMI_ERR_COMMAND_INVALID_OR_UNSUPPORTED, .invalidRequest), (IPMI_ERR_IPMI_2_0_UNAVAILABLE, .invalidRequest),
            (IPMI_ERR_PARAMETERS, .invalidRequest), (IPMI_ERR_BAD_COMPLETION_CODE, .completionCode),
            (IPMI_ERR_SYSTEM_ERROR, .other), (IPMI_ERR_INTERNAL_ERROR, .other),
        ] as [(ipmi_errnum, IPMIError.Kind)])
    func freeIPMIErrors(_ errnum: ipmi_errnum, _ kind: IPMIError.Kind) {
        let error = IPMIError.freeIPMI(Int32(errnum.rawValue), context: "Opening a session with bmc:623")
        #expect(error.kind == kind)
        #expect(error.message.hasPrefix("Opening a session with bmc:623: "))
        #expect(error.completionCode == nil)
    }

    @Test("The privilege error points at opensesspriv")
    func privilegeHint() {
        let error = IPMIError.freeIPMI(Int32(IPMI_ERR_PRIVILEGE_LEVEL_CANNOT_BE_OBTAINED.rawValue), context: "x")
        #expect(error.message.contains("opensesspriv"))
    }
}
