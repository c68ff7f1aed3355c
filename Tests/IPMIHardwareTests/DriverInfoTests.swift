import Core
import IPMI
import IPMIHardware
import Testing

/// Parses `info` as an ipmi node's driver_info.
private func parse(_ info: [String: JSONValue], settings: IPMIDriverSettings = IPMIDriverSettings()) throws -> IPMIDriverInfo {
    try IPMIDriverInfo(node: ipmiNode(info), settings: settings)
}

/// The error parsing `info` raises.
private func parseError(_ info: [String: JSONValue]) -> IronicError? {
    do {
        _ = try IPMIDriverInfo(node: ipmiNode(info))
        return nil
    } catch {
        return error
    }
}

private let address: [String: JSONValue] = ["ipmi_address": "10.0.0.5"]

private func with(_ extra: [String: JSONValue]) -> [String: JSONValue] {
    address.merging(extra) { _, new in new }
}

@Suite("ipmi driver_info parsing")
struct DriverInfoTests {
    @Test("Only ipmi_address: Ironic's defaults")
    func defaults() throws {
        let settings = IPMIDriverSettings(sessionTimeout: .seconds(7))
        let info = try parse(address, settings: settings)
        #expect(info.session.host == "10.0.0.5")
        #expect(info.session.port == 623)
        #expect(info.session.endpoint == "10.0.0.5:623")
        #expect(info.session.username == nil)
        #expect(info.session.password == nil)
        #expect(info.session.privilege == .administrator)
        #expect(info.session.protocolVersion == .v2_0)
        #expect(info.session.cipherSuite == nil)
        #expect(info.session.kgKey == nil)
        #expect(info.session.workarounds.isEmpty)
        #expect(info.session.sessionTimeout == .seconds(7))
        #expect(info.forceBootDevice == false)
        #expect(info.disableBootTimeout == true)
        #expect(info.terminalPort == nil)
        #expect(info.consoleWorkarounds.isEmpty)
    }

    @Test("Every key set")
    func everyKey() throws {
        let info = try parse([
            "ipmi_address": "bmc-7.rack3.example.com",
            "ipmi_port": 6230,
            "ipmi_username": "admin",
            "ipmi_password": "s3cret",
            "ipmi_priv_level": "OPERATOR",
            "ipmi_protocol_version": "2.0",
            "ipmi_cipher_suite": 17,
            "ipmi_hex_kg_key": "00ff10Ab",
            "ipmi_force_boot_device": true,
            "ipmi_disable_boot_timeout": "false",
            "ipmi_terminal_port": "8023",
            "ipmi_bridging": "no",
            "ipmi_target_channel": "7",
            "ipmi_workarounds": ["opensesspriv", "solchannelsupport", "idzero"],
        ])
        #expect(info.session.host == "bmc-7.rack3.example.com")
        #expect(info.session.port == 6230)
        #expect(info.session.username == "admin")
        #expect(info.session.password == "s3cret")
        #expect(info.session.privilege == .operator)
        #expect(info.session.cipherSuite == 17)
        #expect(info.session.kgKey == [0x00, 0xff, 0x10, 0xab])
        #expect(info.forceBootDevice)
        #expect(!info.disableBootTimeout)
        #expect(info.terminalPort == 8023)
        #expect(info.session.workarounds == ["opensesspriv", "idzero"])
        #expect(info.consoleWorkarounds == ["opensesspriv", "solchannelsupport"])
    }

    @Test("properties documents every key; only ipmi_address is required")
    func properties() {
        let keys: Set<String> = [
            "ipmi_address", "ipmi_port", "ipmi_username", "ipmi_password", "ipmi_priv_level", "ipmi_protocol_version",
            "ipmi_cipher_suite", "ipmi_hex_kg_key", "ipmi_force_boot_device", "ipmi_disable_boot_timeout",
            "ipmi_terminal_port", "ipmi_bridging", "ipmi_target_channel", "ipmi_target_address", "ipmi_transit_channel",
            "ipmi_transit_address", "ipmi_local_address", "ipmi_workarounds", "ipmi_sel_poll",
        ]
        #expect(Set(IPMIDriverInfo.properties.keys) == keys)
        let required = IPMIDriverInfo.properties.filter { $0.value.contains("Required.") }.map(\.key)
        #expect(required == ["ipmi_address"])
        let power = IPMIPower(client: MockBMC())
        #expect(power.properties == IPMIDriverInfo.properties)
    }

    // MARK: ipmi_address

    @Test(
        "A missing or empty ipmi_address is MissingParameterValue",
        arguments: [
            [:], ["ipmi_address": ""], ["ipmi_address": .null], ["ipmi_username": "admin"],
        ] as [[String: JSONValue]])
    func missingAddress(_ info: [String: JSONValue]) {
        let error = parseError(info)
        #expect(error?.code == "MissingParameterValue")
        #expect(error?.status == 400)
        #expect(error?.message.contains("ipmi_address") == true)
    }

    @Test(
        "Addresses that are IP literals or host names are accepted",
        arguments: [
            "10.0.0.5", "127.0.0.1", "fe80::1", "::1", "fe80::1%eth0", "bmc", "BMC-01.Example.COM",
            "node_1.example.com", "bmc.example.com.",
        ])
    func validAddresses(_ value: String) throws {
        #expect(try parse(["ipmi_address": .string(value)]).session.host == value)
    }

    @Test("IPv6 literals lose their brackets and need port 623")
    func ipv6() throws {
        #expect(try parse(["ipmi_address": "[2001:db8::7]"]).session.host == "2001:db8::7")
        #expect(try parse(["ipmi_address": "2001:db8::7", "ipmi_port": 623]).session.port == 623)
        let error = parseError(["ipmi_address": "2001:db8::7", "ipmi_port": 6230])
        #expect(error?.code == "InvalidParameterValue")
        #expect(error?.message.contains("port 623 only") == true)
    }

    @Test(
        "Other addresses are InvalidParameterValue",
        arguments: [
            "bad host", "-bmc.example.com", "bmc..example.com", "300.1.1.1", "10.0.0", "bmc!", "fe80:::1",
        ])
    func invalidAddresses(_ value: String) {
        let error = parseError(["ipmi_address": .string(value)])
        #expect(error?.code == "InvalidParameterValue")
        #expect(error?.message.contains("ipmi_address \"\(value)\"") == true)
    }

    @Test("A non-string ipmi_address is InvalidParameterValue")
    func nonStringAddress() {
        let error = parseError(["ipmi_address": 10])
        #expect(error?.code == "InvalidParameterValue")
        #expect(error?.message.contains("must be a string") == true)
    }

    // MARK: Ports

    @Test("Ports may be numbers or strings of digits")
    func ports() throws {
        #expect(try parse(with(["ipmi_port": "6231"])).session.port == 6231)
        #expect(try parse(with(["ipmi_port": 1])).session.port == 1)
        #expect(try parse(with(["ipmi_port": 65535])).session.port == 65535)
        #expect(try parse(with(["ipmi_port": .null])).session.port == 623)
        #expect(try parse(with(["ipmi_terminal_port": 9000])).terminalPort == 9000)
    }

    @Test(
        "Out-of-range or non-numeric ports are InvalidParameterValue",
        arguments: [
            "ipmi_port", "ipmi_terminal_port",
        ], [0, 65536, -1, "abc", true, .double(62.5)] as [JSONValue])
    func invalidPorts(_ key: String, _ value: JSONValue) {
        let error = parseError(with([key: value]))
        #expect(error?.code == "InvalidParameterValue")
        #expect(error?.message.contains("\(key) \"") == true)
        #expect(error?.message.contains("is not a valid port") == true)
    }

    @Test("The console port allocated by the conductor stands in for ipmi_terminal_port")
    func allocatedTerminalPort() throws {
        var node = ipmiNode(address)
        node.driverInternalInfo["allocated_ipmi_terminal_port"] = 10_042
        #expect(try IPMIDriverInfo(node: node).terminalPort == 10_042)
        node.driverInfo["ipmi_terminal_port"] = 9001
        #expect(try IPMIDriverInfo(node: node).terminalPort == 9001)
    }

    // MARK: Credentials

    @Test("Empty credentials mean the NULL user and an empty password; numbers are spelled out")
    func credentials() throws {
        let empty = try parse(with(["ipmi_username": "", "ipmi_password": ""]))
        #expect(empty.session.username == nil)
        #expect(empty.session.password == nil)
        let numeric = try parse(with(["ipmi_username": 1000, "ipmi_password": 1234]))
        #expect(numeric.session.username == "1000")
        #expect(numeric.session.password == "1234")
    }

    @Test("User names and passwords within IPMI's limits")
    func credentialLengths() throws {
        let name16 = String(repeating: "u", count: 16)
        let password20 = String(repeating: "p", count: 20)
        _ = try parse(with(["ipmi_username": .string(name16), "ipmi_password": .string(password20)]))
        #expect(parseError(with(["ipmi_username": .string(name16 + "u")]))?.message.contains("at most 16 bytes") == true)
        #expect(parseError(with(["ipmi_password": .string(password20 + "p")]))?.message.contains("20 bytes, the IPMI 2.0 limit") == true)
        let old = parseError(with(["ipmi_password": .string(password20), "ipmi_protocol_version": "1.5"]))
        #expect(old?.message.contains("16 bytes, the IPMI 1.5 limit") == true)
    }

    @Test("Credentials of other JSON types are InvalidParameterValue", arguments: ["ipmi_username", "ipmi_password"])
    func invalidCredentials(_ key: String) {
        let error = parseError(with([key: ["a": "b"]]))
        #expect(error?.code == "InvalidParameterValue")
        #expect(error?.message == "\(key) must be a string, not a object.")
    }

    // MARK: Privilege and protocol

    @Test("Each of Ironic's privilege levels", arguments: PrivilegeLevel.allCases)
    func privilegeLevels(_ level: PrivilegeLevel) throws {
        #expect(try parse(with(["ipmi_priv_level": .string(level.rawValue)])).session.privilege == level)
    }

    @Test("Other privilege levels are InvalidParameterValue, listing the valid ones", arguments: ["admin", "ROOT", ""])
    func invalidPrivilege(_ value: String) {
        let error = parseError(with(["ipmi_priv_level": .string(value)]))
        #expect(error?.code == "InvalidParameterValue")
        #expect(error?.message.contains("ADMINISTRATOR, CALLBACK, OPERATOR, USER") == true)
    }

    @Test("Protocol versions as strings or JSON numbers")
    func protocolVersions() throws {
        #expect(try parse(with(["ipmi_protocol_version": "1.5"])).session.protocolVersion == .v1_5)
        #expect(try parse(with(["ipmi_protocol_version": .double(1.5)])).session.protocolVersion == .v1_5)
        #expect(try parse(with(["ipmi_protocol_version": .double(2.0)])).session.protocolVersion == .v2_0)
        #expect(try parse(with(["ipmi_protocol_version": 2])).session.protocolVersion == .v2_0)
    }

    @Test("Other protocol versions are InvalidParameterValue", arguments: ["3.0", "2", "lanplus"] as [JSONValue])
    func invalidProtocol(_ value: JSONValue) {
        let error = parseError(with(["ipmi_protocol_version": value]))
        #expect(error?.code == "InvalidParameterValue")
        #expect(error?.message.contains("2.0, 1.5") == true)
    }

    @Test("A non-scalar protocol version is InvalidParameterValue")
    func protocolWrongType() {
        #expect(parseError(with(["ipmi_protocol_version": ["2.0"]]))?.code == "InvalidParameterValue")
    }

    // MARK: Cipher suite and K_g

    @Test("Cipher suites FreeIPMI supports, as numbers or strings")
    func cipherSuites() throws {
        #expect(try parse(with(["ipmi_cipher_suite": "3"])).session.cipherSuite == 3)
        #expect(try parse(with(["ipmi_cipher_suite": 17])).session.cipherSuite == 17)
        #expect(try parse(with(["ipmi_cipher_suite": 0])).session.cipherSuite == 0)
    }

    @Test("Bad cipher suites are InvalidParameterValue")
    func invalidCipherSuites() {
        #expect(parseError(with(["ipmi_cipher_suite": "aes"]))?.message == "ipmi_cipher_suite \"aes\" is not a number.")
        #expect(parseError(with(["ipmi_cipher_suite": 4]))?.message.contains("is not a cipher suite FreeIPMI supports") == true)
        #expect(parseError(with(["ipmi_cipher_suite": 18]))?.code == "InvalidParameterValue")
        let old = parseError(with(["ipmi_cipher_suite": 3, "ipmi_protocol_version": "1.5"]))
        #expect(old?.code == "InvalidParameterValue")
        #expect(old?.message.contains("cannot be used with IPMI 1.5") == true)
    }

    @Test("K_g keys: hexadecimal, even length, at most 40 digits")
    func kgKeys() throws {
        let longest = String(repeating: "ab", count: 20)
        #expect(try parse(with(["ipmi_hex_kg_key": .string(longest)])).session.kgKey == Array(repeating: 0xab, count: 20))
        #expect(try parse(with(["ipmi_hex_kg_key": ""])).session.kgKey == nil)
        #expect(try parse(with(["ipmi_hex_kg_key": "DEADBEEF"])).session.kgKey == [0xde, 0xad, 0xbe, 0xef])
        #expect(parseError(with(["ipmi_hex_kg_key": "abc"]))?.message.contains("odd number") == true)
        #expect(parseError(with(["ipmi_hex_kg_key": "zz"]))?.message.contains("only hexadecimal digits") == true)
        #expect(parseError(with(["ipmi_hex_kg_key": "0x01"]))?.message.contains("only hexadecimal digits") == true)
        #expect(parseError(with(["ipmi_hex_kg_key": .string(longest + "ab")]))?.message.contains("at most 20 bytes") == true)
        #expect(parseError(with(["ipmi_hex_kg_key": 1234]))?.code == "InvalidParameterValue")
    }

    // MARK: Flags

    @Test(
        "Boolean flags accept JSON Booleans, 0/1 and the usual words",
        arguments: [
            "ipmi_force_boot_device", "ipmi_disable_boot_timeout",
        ])
    func flags(_ key: String) throws {
        for (value, expected) in [(true, true), (false, false), ("yes", true), ("off", false), ("True", true), (1, true), (0, false)]
            as [(JSONValue, Bool)]
        {
            let info = try parse(with([key: value]))
            #expect((key == "ipmi_force_boot_device" ? info.forceBootDevice : info.disableBootTimeout) == expected)
        }
        let error = parseError(with([key: "maybe"]))
        #expect(error?.code == "InvalidParameterValue")
        #expect(error?.message == "\(key) \"maybe\" is not a Boolean; use true or false.")
        #expect(parseError(with([key: 2]))?.code == "InvalidParameterValue")
    }

    @Test("ipmi_disable_boot_timeout falls back to the service default")
    func disableBootTimeoutDefault() throws {
        #expect(try parse(address, settings: IPMIDriverSettings(disableBootTimeout: false)).disableBootTimeout == false)
        #expect(
            try parse(with(["ipmi_disable_boot_timeout": true]), settings: IPMIDriverSettings(disableBootTimeout: false)).disableBootTimeout
        )
    }

    // MARK: Bridging

    @Test("No bridging is the default and validates, whatever bridging keys are left over")
    func noBridging() throws {
        _ = try parse(with(["ipmi_bridging": "no", "ipmi_target_channel": "junk"]))
    }

    @Test("Unknown bridging types are InvalidParameterValue", arguments: ["none", "triple", ""])
    func unknownBridging(_ value: String) {
        let error = parseError(with(["ipmi_bridging": .string(value)]))
        #expect(error?.code == "InvalidParameterValue")
        #expect(error?.message.contains("single, dual, no") == true)
    }

    @Test("Single and dual bridging need their keys")
    func bridgingKeys() {
        let single = parseError(with(["ipmi_bridging": "single", "ipmi_target_channel": 0]))
        #expect(single?.code == "MissingParameterValue")
        #expect(single?.message.contains("ipmi_target_address") == true)
        #expect(single?.message.contains("ipmi_target_channel") == false)
        let dual = parseError(with(["ipmi_bridging": "dual", "ipmi_target_channel": 0, "ipmi_target_address": "0x72"]))
        #expect(dual?.code == "MissingParameterValue")
        #expect(dual?.message.contains("ipmi_transit_channel, ipmi_transit_address") == true)
    }

    @Test("Bridging values must be byte-sized numbers")
    func bridgingValues() {
        let error = parseError(with(["ipmi_bridging": "single", "ipmi_target_channel": "x", "ipmi_target_address": 0x72]))
        #expect(error?.message == "ipmi_target_channel \"x\" is not a number from 0 to 255.")
        let local = parseError(
            with([
                "ipmi_bridging": "single", "ipmi_target_channel": 7, "ipmi_target_address": 0x72, "ipmi_local_address": 300,
            ]))
        #expect(local?.message == "ipmi_local_address \"300\" is not a number from 0 to 255.")
    }

    @Test(
        "Complete single or dual bridging is refused: the client cannot bridge",
        arguments: [
            with(["ipmi_bridging": "single", "ipmi_target_channel": 7, "ipmi_target_address": "0x72"]),
            with([
                "ipmi_bridging": "dual", "ipmi_target_channel": 7, "ipmi_target_address": "0x72",
                "ipmi_transit_channel": "0", "ipmi_transit_address": "0x82", "ipmi_local_address": "0x20",
            ]),
        ])
    func bridgingUnsupported(_ info: [String: JSONValue]) {
        let error = parseError(info)
        #expect(error?.code == "InvalidParameterValue")
        #expect(error?.message.contains("is not supported") == true)
        #expect(error?.message.contains("does not send bridged requests") == true)
    }

    // MARK: Workarounds

    @Test("Workarounds as a list or a comma-separated string, split by path")
    func workarounds() throws {
        let list = try parse(with(["ipmi_workarounds": ["opensesspriv", "solchannelsupport", "solstatus"]]))
        #expect(list.session.workarounds == ["opensesspriv"])
        #expect(list.consoleWorkarounds == ["opensesspriv", "solchannelsupport", "solstatus"])
        let sensors = try parse(with(["ipmi_workarounds": ["discretereading", "assumesystemevent"]]))
        #expect(sensors.session.workarounds == ["discretereading", "assumesystemevent"])
        #expect(sensors.consoleWorkarounds.isEmpty)
        let text = try parse(with(["ipmi_workarounds": " authcap, endianseq ,,SOLPAYLOADSIZE"]))
        #expect(text.session.workarounds == ["authcap", "endianseq"])
        #expect(text.consoleWorkarounds == ["authcap", "solpayloadsize"])
        #expect(try parse(with(["ipmi_workarounds": ""])).session.workarounds.isEmpty)
        #expect(try parse(with(["ipmi_workarounds": []])).session.workarounds.isEmpty)
    }

    @Test("Unknown workaround names are listed in the error")
    func unknownWorkarounds() {
        let error = parseError(with(["ipmi_workarounds": "opensesspriv,turbo,fastboot,fastboot"]))
        #expect(error?.code == "InvalidParameterValue")
        #expect(error?.message.hasPrefix("Unknown FreeIPMI workaround(s) in ipmi_workarounds: fastboot, turbo. Valid names are: ") == true)
        #expect(error?.message.contains("opensesspriv") == true)
    }

    @Test("Workarounds of other JSON types are InvalidParameterValue")
    func workaroundTypes() {
        #expect(parseError(with(["ipmi_workarounds": 5]))?.message.contains("not a number") == true)
        #expect(parseError(with(["ipmi_workarounds": ["opensesspriv", 3]]))?.message.contains("found a number") == true)
    }

    // MARK: Through the interfaces

    @Test("validate reports driver_info errors without touching the BMC")
    func validateThroughInterfaces() async throws {
        let bmc = MockBMC()
        let interfaces = IPMIInterfaces(client: bmc)
        let bad = makeTask(ipmiNode(["ipmi_address": "10.0.0.5", "ipmi_priv_level": "ROOT"]))
        await #expect(throws: IronicError.self) { try await interfaces.power.validate(bad) }
        await #expect(throws: IronicError.self) { try await interfaces.management.validate(bad) }
        await #expect(throws: IronicError.self) { try await interfaces.vendor.validate(bad) }
        let good = makeTask(ipmiNode(address))
        try await interfaces.power.validate(good)
        try await interfaces.management.validate(good)
        try await interfaces.vendor.validate(good)
        #expect(await bmc.log.isEmpty)
    }
}
