import Core
import IPMI

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A node's `ipmi_*` driver_info, checked and turned into what the BMC client needs.
///
/// Parsing never touches the BMC: it runs on every `validate`, and BMCs are too fragile to be
/// asked whether the credentials work each time someone looks at a node.
///
/// ```swift
/// let info = try IPMIDriverInfo(node: task.node, settings: settings)
/// let status = try await client.chassisStatus(info.session)
/// ```
public struct IPMIDriverInfo: Sendable, Hashable {
    /// How to open a session with the BMC (address, credentials, privilege, protocol, cipher
    /// suite, K_g, session workarounds).
    public var session: BMCSessionOptions
    /// `ipmi_force_boot_device`: the BMC forgets boot devices across power cycles, so the
    /// persistent device is sent again before every power on.
    public var forceBootDevice: Bool
    /// `ipmi_disable_boot_timeout`: keep a one-time boot device from expiring after 60 s.
    public var disableBootTimeout: Bool
    /// `ipmi_terminal_port` (or the port allocated to the node's console), for the console.
    public var terminalPort: Int?
    /// Workarounds for serial-over-LAN sessions, for the console.
    public var consoleWorkarounds: Set<String>

    /// Ironic's privilege levels, in the order its messages list them.
    public static let privilegeLevels = ["ADMINISTRATOR", "CALLBACK", "OPERATOR", "USER"]
    /// Ironic's protocol versions.
    public static let protocolVersions = ["2.0", "1.5"]
    /// Ironic's `ipmi_bridging` values (`no` is the default).
    public static let bridgingTypes = ["single", "dual", "no"]
    /// IPMI 2.0 cipher suite IDs FreeIPMI can use.
    public static let cipherSuites: Set<Int> = [0, 1, 2, 3, 6, 7, 8, 11, 12, 15, 16, 17]
    /// Longest user name, in bytes.
    public static let maximumUsernameLength = 16
    /// Longest K_g key: 20 bytes, 40 hexadecimal characters.
    public static let maximumKgKeyLength = 40

    /// Every `driver_info` key the ipmi interfaces read, with a description (what
    /// `GET /v1/drivers/ipmi/properties` lists).
    public static let properties: [String: String] = [
        "ipmi_address": "Host name or IP address of the BMC. Required.",
        "ipmi_sel_poll": "Whether the conductor reads the BMC's event log (SEL) into the node's history; default true. Optional.",
        "ipmi_port": "UDP port of the BMC's RMCP service; default 623 (the only one possible for IPv6 addresses). Optional.",
        "ipmi_username": "User name on the BMC, at most 16 bytes; the anonymous (NULL) user when unset. Optional.",
        "ipmi_password": "Password of that user, at most 20 bytes (16 with IPMI 1.5); an empty password when unset. "
            + "Optional.",
        "ipmi_priv_level": "Privilege level the session asks for: one of \(privilegeLevels.joined(separator: ", ")); "
            + "default ADMINISTRATOR. Optional.",
        "ipmi_protocol_version": "IPMI protocol version: \"2.0\" (LAN+, the default) or \"1.5\" (LAN). Optional.",
        "ipmi_cipher_suite": "IPMI 2.0 cipher suite ID. 17 (AES-128 with SHA256) is preferred, 3 (AES-128 with SHA1) "
            + "is the fallback; FreeIPMI chooses 3 when unset. Not allowed with IPMI 1.5. Optional.",
        "ipmi_hex_kg_key": "IPMI 2.0 K_g (BMC) key, as an even number of hexadecimal digits, at most 40. Optional.",
        "ipmi_force_boot_device": "Send the persistent boot device to the BMC again before every power on, for BMCs "
            + "that forget it across power cycles; default false. Optional.",
        "ipmi_disable_boot_timeout": "Ask the BMC to keep a one-time boot device past its 60-second expiry; "
            + "default true. Optional.",
        "ipmi_terminal_port": "Local TCP port of the node's serial console. Only used by console interfaces.",
        "ipmi_bridging": "Bridging to a controller behind the BMC: \"single\", \"dual\" or \"no\" (the default). "
            + "Bridged requests are not supported by this conductor, so only \"no\" validates. Optional.",
        "ipmi_target_channel": "Channel of the bridged controller. Required when ipmi_bridging is \"single\" or \"dual\".",
        "ipmi_target_address": "IPMB address of the bridged controller. Required when ipmi_bridging is \"single\" or \"dual\".",
        "ipmi_transit_channel": "Channel of the intermediate controller. Required when ipmi_bridging is \"dual\".",
        "ipmi_transit_address": "IPMB address of the intermediate controller. Required when ipmi_bridging is \"dual\".",
        "ipmi_local_address": "Local IPMB address for bridged requests. Only used when ipmi_bridging is \"single\" "
            + "or \"dual\". Optional.",
        "ipmi_workarounds": "FreeIPMI workarounds for this BMC, as a list or a comma-separated string of FreeIPMI's "
            + "names (\"opensesspriv\", \"authcap\", \"solchannelsupport\", ...). Optional.",
    ]

    /// Creates parsed info from its parts.
    public init(
        session: BMCSessionOptions, forceBootDevice: Bool = false, disableBootTimeout: Bool = true,
        terminalPort: Int? = nil, consoleWorkarounds: Set<String> = []
    ) {
        self.session = session
        self.forceBootDevice = forceBootDevice
        self.disableBootTimeout = disableBootTimeout
        self.terminalPort = terminalPort
        self.consoleWorkarounds = consoleWorkarounds
    }

    /// Parses and checks `node.driverInfo`.
    ///
    /// - Parameter settings: Supplies the session timeout and the default of
    ///   `ipmi_disable_boot_timeout`.
    /// - Throws: `MissingParameterValue` when `ipmi_address` (or a bridging key the chosen
    ///   bridging needs) is missing; `InvalidParameterValue` for any malformed value, and for
    ///   bridging, which this conductor's IPMI client cannot do.
    public init(node: Node, settings: IPMIDriverSettings = IPMIDriverSettings()) throws(IronicError) {
        let info = node.driverInfo
        guard let addressValue = info["ipmi_address"], addressValue.isTruthy else {
            throw .missingParameterValue("The node's driver_info lacks the IPMI parameter(s): ipmi_address.")
        }
        guard case .string(let rawAddress) = addressValue else {
            throw .invalidParameterValue(
                "ipmi_address must be a string (an IP address or host name), not a \(addressValue.typeName).")
        }
        var address = rawAddress.trimmed
        guard Self.isValidAddress(address) else {
            throw .invalidParameterValue(
                "ipmi_address \"\(rawAddress)\" of node \(node.uuid) is neither an IP address nor a valid host name.")
        }
        let isIPv6 = Self.isIPv6(address)
        if isIPv6, address.hasPrefix("[") { address = String(address.dropFirst().dropLast()) }

        let protocolText = try Self.versionText(info["ipmi_protocol_version"])
        guard let protocolVersion = ProtocolVersion(rawValue: protocolText) else {
            throw .invalidParameterValue(
                "ipmi_protocol_version \"\(protocolText)\" is not supported; use one of: \(Self.protocolVersions.joined(separator: ", ")).")
        }

        var terminalPort = try Self.port(info["ipmi_terminal_port"], key: "ipmi_terminal_port")
        if terminalPort == nil {
            terminalPort = try Self.port(
                node.driverInternalInfo["allocated_ipmi_terminal_port"], key: "allocated_ipmi_terminal_port")
        }
        let port = try Self.port(info["ipmi_port"], key: "ipmi_port") ?? 623
        // FreeIPMI takes "host:port" and splits it at the first colon.
        guard !isIPv6 || port == 623 else {
            throw .invalidParameterValue(
                "ipmi_port \(port) cannot be used with the IPv6 address \(rawAddress): FreeIPMI reaches IPv6 BMCs on port 623 only.")
        }

        try Self.checkBridging(info)

        let privilegeText = try Self.text(info["ipmi_priv_level"], key: "ipmi_priv_level") ?? "ADMINISTRATOR"
        guard let privilege = PrivilegeLevel(rawValue: privilegeText) else {
            throw .invalidParameterValue(
                "ipmi_priv_level \"\(privilegeText)\" is not a privilege level; use one of: \(Self.privilegeLevels.joined(separator: ", "))."
            )
        }

        let kgKey = try Self.kgKey(info["ipmi_hex_kg_key"])

        var cipherSuite: Int?
        if let value = info["ipmi_cipher_suite"], !value.isNull {
            guard let number = Self.integer(value) else {
                throw .invalidParameterValue("ipmi_cipher_suite \"\(Self.display(value))\" is not a number.")
            }
            guard protocolVersion == .v2_0 else {
                throw .invalidParameterValue("ipmi_cipher_suite cannot be used with IPMI 1.5; cipher suites exist only in IPMI 2.0.")
            }
            guard Self.cipherSuites.contains(number) else {
                throw .invalidParameterValue(
                    "ipmi_cipher_suite \(number) is not a cipher suite FreeIPMI supports; use one of: "
                        + "\(Self.cipherSuites.sorted().map(String.init).joined(separator: ", ")) (17 or 3 recommended).")
            }
            cipherSuite = number
        }

        let forceBootDevice = try Self.flag(info["ipmi_force_boot_device"], key: "ipmi_force_boot_device") ?? false
        let disableBootTimeout =
            try Self.flag(info["ipmi_disable_boot_timeout"], key: "ipmi_disable_boot_timeout") ?? settings.disableBootTimeout
        let workarounds = try IPMIWorkarounds.parse(info["ipmi_workarounds"])

        let username = try Self.text(info["ipmi_username"], key: "ipmi_username")
        let password = try Self.text(info["ipmi_password"], key: "ipmi_password")
        // The IPMI specification's limits, which FreeIPMI enforces.
        if let username, username.utf8.count > Self.maximumUsernameLength {
            throw .invalidParameterValue(
                "ipmi_username is \(username.utf8.count) bytes long; IPMI user names are at most \(Self.maximumUsernameLength) bytes.")
        }
        let passwordLimit = protocolVersion == .v2_0 ? 20 : 16
        if let password, password.utf8.count > passwordLimit {
            throw .invalidParameterValue(
                "ipmi_password is longer than \(passwordLimit) bytes, the IPMI \(protocolVersion.rawValue) limit.")
        }

        self.session = BMCSessionOptions(
            host: address, port: port,
            username: username.flatMap { $0.isEmpty ? nil : $0 },
            password: password.flatMap { $0.isEmpty ? nil : $0 },
            privilege: privilege, protocolVersion: protocolVersion, cipherSuite: cipherSuite, kgKey: kgKey,
            workarounds: workarounds.session, sessionTimeout: settings.sessionTimeout)
        self.forceBootDevice = forceBootDevice
        self.disableBootTimeout = disableBootTimeout
        self.terminalPort = terminalPort
        self.consoleWorkarounds = workarounds.console
    }

    /// Ironic's bridging rules: an unknown type is invalid, a known one needs its keys. This
    /// conductor talks to BMCs through libfreeipmi sessions without IPMB bridging, so after the
    /// keys check out, `single` and `dual` are refused with a message that says so.
    static func checkBridging(_ info: [String: JSONValue]) throws(IronicError) {
        let type = try text(info["ipmi_bridging"], key: "ipmi_bridging") ?? "no"
        guard bridgingTypes.contains(type) else {
            throw .invalidParameterValue(
                "ipmi_bridging \"\(type)\" is not a bridging type; use one of: \(bridgingTypes.joined(separator: ", ")).")
        }
        guard type != "no" else { return }
        var needed = ["ipmi_target_channel", "ipmi_target_address"]
        if type == "dual" { needed += ["ipmi_transit_channel", "ipmi_transit_address"] }
        let missing = needed.filter { info[$0] == nil || info[$0] == .null }
        guard missing.isEmpty else {
            throw .missingParameterValue(
                "ipmi_bridging \"\(type)\" needs these driver_info keys, which are not set: \(missing.joined(separator: ", ")).")
        }
        for key in needed + ["ipmi_local_address"] {
            guard let value = info[key], !value.isNull else { continue }
            guard let number = integer(value), (0...255).contains(number) else {
                throw .invalidParameterValue("\(key) \"\(display(value))\" is not a number from 0 to 255.")
            }
        }
        throw .invalidParameterValue(
            "ipmi_bridging \"\(type)\" is not supported: this conductor's IPMI client (FreeIPMI) does not send bridged "
                + "requests. Set ipmi_bridging to \"no\" and address the controller directly.")
    }

    // MARK: Value readers

    /// A string value; integers are accepted and spelled out, as Ironic's `str()` would.
    static func text(_ value: JSONValue?, key: String) throws(IronicError) -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let text)?: return text
        case .int(let number)?: return String(number)
        case let other?: throw .invalidParameterValue("\(key) must be a string, not a \(other.typeName).")
        }
    }

    /// `ipmi_protocol_version` as text; JSON numbers (`2.0`, `1.5`) count as their decimal spelling.
    static func versionText(_ value: JSONValue?) throws(IronicError) -> String {
        switch value {
        case nil, .null?: return "2.0"
        case .string(let text)?: return text.trimmed
        case .double(let number)?: return String(number)
        case .int(let number)?: return "\(number).0"
        case let other?:
            throw .invalidParameterValue("ipmi_protocol_version must be \"2.0\" or \"1.5\", not a \(other.typeName).")
        }
    }

    /// A TCP/UDP port from an integer or a string of digits, 1 to 65535.
    static func port(_ value: JSONValue?, key: String) throws(IronicError) -> Int? {
        guard let value, !value.isNull else { return nil }
        guard let number = integer(value), (1...65535).contains(number) else {
            throw .invalidParameterValue("\(key) \"\(display(value))\" is not a valid port (1-65535).")
        }
        return number
    }

    /// An integer from a JSON integer, an integral double, or a decimal or `0x` hexadecimal string.
    static func integer(_ value: JSONValue) -> Int? {
        switch value {
        case .int(let number): return number
        case .double(let number): return number.rounded() == number && abs(number) < 1e15 ? Int(number) : nil
        case .string(let text):
            let text = text.trimmed
            if text.lowercased().hasPrefix("0x") { return Int(text.dropFirst(2), radix: 16) }
            return Int(text)
        default: return nil
        }
    }

    /// A Boolean the way Ironic's `bool_from_string` reads one, but strict: an unrecognised
    /// value is an error rather than a silent `false`.
    static func flag(_ value: JSONValue?, key: String) throws(IronicError) -> Bool? {
        switch value {
        case nil, .null?: return nil
        case .bool(let flag)?: return flag
        case .int(let number)? where number == 0 || number == 1: return number == 1
        case .string(let text)?:
            switch text.trimmed.lowercased() {
            case "1", "t", "true", "on", "y", "yes": return true
            case "0", "f", "false", "off", "n", "no": return false
            default: break
            }
        default: break
        }
        throw .invalidParameterValue("\(key) \"\(display(value ?? .null))\" is not a Boolean; use true or false.")
    }

    /// `ipmi_hex_kg_key` as bytes: hexadecimal digits only, an even number of them, at most 40.
    static func kgKey(_ value: JSONValue?) throws(IronicError) -> [UInt8]? {
        guard let value, value.isTruthy else { return nil }
        guard case .string(let text) = value else {
            throw .invalidParameterValue("ipmi_hex_kg_key must be a string of hexadecimal digits, not a \(value.typeName).")
        }
        let digits = Array(text.trimmed.utf8)
        guard digits.allSatisfy({ hexValue($0) != nil }) else {
            throw .invalidParameterValue("ipmi_hex_kg_key must contain only hexadecimal digits (0-9, a-f).")
        }
        guard digits.count.isMultiple(of: 2) else {
            throw .invalidParameterValue("ipmi_hex_kg_key has an odd number of hexadecimal digits (\(digits.count)); each byte takes two.")
        }
        guard digits.count <= maximumKgKeyLength else {
            throw .invalidParameterValue(
                "ipmi_hex_kg_key is \(digits.count) hexadecimal digits long; a K_g key is at most 20 bytes (\(maximumKgKeyLength) digits).")
        }
        return stride(from: 0, to: digits.count, by: 2).map { index in
            hexValue(digits[index])! << 4 | hexValue(digits[index + 1])!
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// A value as a message shows it: strings bare, everything else as JSON.
    static func display(_ value: JSONValue) -> String {
        if case .string(let text) = value { return text }
        return value.serialized()
    }

    // MARK: Addresses

    /// An IPv4 or IPv6 literal, or a host name by RFC 1123 (letters, digits and hyphens in
    /// labels of at most 63 characters, at most 255 in all, an optional trailing dot).
    static func isValidAddress(_ address: String) -> Bool {
        isIPv4(address) || isIPv6(address) || isHostName(address)
    }

    static func isIPv4(_ text: String) -> Bool {
        var address = in_addr()
        return inet_pton(AF_INET, text, &address) == 1
    }

    static func isIPv6(_ text: String) -> Bool {
        var text = Substring(text)
        if text.hasPrefix("["), text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        // A zone index (`fe80::1%eth0`) names a local interface; it is not part of the address.
        if let percent = text.firstIndex(of: "%") {
            guard text.index(after: percent) < text.endIndex else { return false }
            text = text[..<percent]
        }
        var address = in6_addr()
        return inet_pton(AF_INET6, String(text), &address) == 1
    }

    static func isHostName(_ text: String) -> Bool {
        var name = Substring(text)
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.isEmpty, text.utf8.count <= 255 else { return false }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        // All-numeric dotted names would be malformed IPv4 addresses, not host names.
        if labels.allSatisfy({ $0.allSatisfy(\.isASCIIDigit) }) { return false }
        return labels.allSatisfy { label in
            guard (1...63).contains(label.count), label.first != "-", label.last != "-" else { return false }
            return label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
