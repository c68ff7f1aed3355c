import CFreeIPMI

/// A FreeIPMI workaround, by the name FreeIPMI's tools take after `-W`, and what it changes here.
///
/// Names are FreeIPMI's own so an operator can try a workaround with `ipmipower -W ...` first
/// and then copy it into a node's `driver_info`. Some names belong to other FreeIPMI tools (the
/// serial console, `ipmi-config`, ...): they are accepted and ignored here, so one list can
/// serve every path; names FreeIPMI does not know are refused.
public struct FreeIPMIWorkaround: Sendable, Hashable, CustomStringConvertible {
    /// Where a workaround takes effect in this module.
    public enum Scope: String, Sendable, Hashable, CaseIterable {
        /// Session set-up and packet checks (libfreeipmi workaround flags, IPMI 1.5 and/or 2.0).
        case session
        /// Sensor readings (`ipmi_sensor_read` flags).
        case sensors
        /// SEL record interpretation.
        case sel
        /// Known to FreeIPMI but meaningless for power and management (console, configuration
        /// and in-band tools): accepted and ignored.
        case ignored
    }

    /// The `-W` name, lowercase.
    public let name: String
    /// Where it takes effect.
    public let scope: Scope
    /// What it does, in one line.
    public let summary: String

    let lan15Flag: UInt32
    let lan20Flag: UInt32
    let contextFlag: UInt32
    let sensorReadFlag: UInt32
    let selFlag: UInt32

    init(
        _ name: String, _ scope: Scope, _ summary: String, lan15: Int32 = 0, lan20: Int32 = 0,
        context: Int32 = 0, sensorRead: Int32 = 0, sel: Int32 = 0
    ) {
        self.name = name
        self.scope = scope
        self.summary = summary
        self.lan15Flag = UInt32(lan15)
        self.lan20Flag = UInt32(lan20)
        self.contextFlag = UInt32(context)
        self.sensorReadFlag = UInt32(sensorRead)
        self.selFlag = UInt32(sel)
    }

    /// `name (scope): summary`.
    public var description: String { "\(name) (\(scope.rawValue)): \(summary)" }

    /// Every name this module accepts, sorted by name.
    public static let all: [FreeIPMIWorkaround] = [
        // Session workarounds (FreeIPMI's ipmi-api.h, named as in its tools' `-W`).
        .init(
            "authcap", .session, "Skip early privilege checks in Get Channel Authentication Capabilities (IPMI 1.5 and 2.0).",
            lan15: IPMI_WORKAROUND_FLAGS_OUTOFBAND_AUTHENTICATION_CAPABILITIES,
            lan20: IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_AUTHENTICATION_CAPABILITIES),
        .init(
            "nochecksumcheck", .session, "Do not check response checksums (IPMI 1.5 and 2.0).",
            lan15: IPMI_WORKAROUND_FLAGS_OUTOFBAND_NO_CHECKSUM_CHECK,
            lan20: IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_NO_CHECKSUM_CHECK),
        .init(
            "idzero", .session, "Accept a session ID of zero from the BMC (IPMI 1.5).",
            lan15: IPMI_WORKAROUND_FLAGS_OUTOFBAND_ACCEPT_SESSION_ID_ZERO),
        .init(
            "unexpectedauth", .session, "Accept authentication codes where none were expected (IPMI 1.5).",
            lan15: IPMI_WORKAROUND_FLAGS_OUTOFBAND_CHECK_UNEXPECTED_AUTHCODE),
        .init(
            "forcepermsg", .session, "Force per-message authentication (IPMI 1.5).",
            lan15: IPMI_WORKAROUND_FLAGS_OUTOFBAND_FORCE_PERMSG_AUTHENTICATION),
        .init(
            "endianseq", .session, "Accept big-endian session sequence numbers (IPMI 1.5).",
            lan15: IPMI_WORKAROUND_FLAGS_OUTOFBAND_BIG_ENDIAN_SEQUENCE_NUMBER),
        .init(
            "noauthcodecheck", .session, "Do not check authentication codes on responses (IPMI 1.5).",
            lan15: IPMI_WORKAROUND_FLAGS_OUTOFBAND_NO_AUTH_CODE_CHECK),
        .init(
            "intel20", .session, "Intel IPMI 2.0 session quirks (password padding, RAKP).",
            lan20: IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_INTEL_2_0_SESSION),
        .init(
            "supermicro20", .session, "Supermicro IPMI 2.0 session quirks.",
            lan20: IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_SUPERMICRO_2_0_SESSION),
        .init(
            "sun20", .session, "Sun IPMI 2.0 session quirks.",
            lan20: IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_SUN_2_0_SESSION),
        .init(
            "opensesspriv", .session,
            "Request the privilege level in Open Session instead of \"highest\" (needed by ipmi_sim and some BMCs).",
            lan20: IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_OPEN_SESSION_PRIVILEGE),
        .init(
            "integritycheckvalue", .session, "Send a non-empty integrity check value with integrity algorithm none (IPMI 2.0).",
            lan20: IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_NON_EMPTY_INTEGRITY_CHECK_VALUE),
        .init(
            "ignoreauthcode", .session, "Ignore authentication codes on individual responses (IPMI 1.5).",
            context: IPMI_FLAGS_IGNORE_AUTHENTICATION_CODE),
        // Sensor reading.
        .init(
            "discretereading", .sensors, "Read discrete sensors whose SDR claims they are threshold sensors.",
            sensorRead: IPMI_SENSOR_READ_FLAGS_DISCRETE_READING),
        .init(
            "ignorescanningdisabled", .sensors, "Report readings even when the sensor says scanning is disabled.",
            sensorRead: IPMI_SENSOR_READ_FLAGS_IGNORE_SCANNING_DISABLED),
        .init(
            "assumebmcowner", .sensors, "Read sensors whose SDR names another owner as if the BMC owned them.",
            sensorRead: IPMI_SENSOR_READ_FLAGS_ASSUME_BMC_OWNER),
        // SEL.
        .init(
            "assumesystemevent", .sel, "Interpret SEL records of unknown type as system event records.",
            sel: IPMI_SEL_FLAGS_ASSUME_SYTEM_EVENT_RECORDS),
        // Other FreeIPMI tools: accepted, no effect here.
        .init("solpayloadsize", .ignored, "Serial console (ipmiconsole): ignore the SOL payload size."),
        .init("solport", .ignored, "Serial console (ipmiconsole): ignore the SOL port."),
        .init("solstatus", .ignored, "Serial console (ipmiconsole): skip the SOL activation status check."),
        .init("solchannelsupport", .ignored, "Serial console (ipmiconsole): skip Get Channel Payload Support."),
        .init("serialalertsdeferred", .ignored, "Serial console (ipmiconsole): defer serial alerts."),
        .init("solpacketseq", .ignored, "Serial console (ipmiconsole): increment SOL packet sequence numbers."),
        .init(
            "assumemaxsdrrecordcount", .ignored,
            "SDR cache (FreeIPMI tools): our SDR walk follows next-record links and never trusts the record count."),
        .init("skipchecks", .ignored, "ipmi-fru: skip FRU checksum checks."),
        .init("slowcommit", .ignored, "ipmi-config: commit slowly."),
        .init("veryslowcommit", .ignored, "ipmi-config: commit very slowly."),
        .init("solchannelassumelanchannel", .ignored, "ipmi-config: assume the SOL channel is the LAN channel."),
        .init("ignorestateflag", .ignored, "bmc-watchdog: ignore the state flag."),
        .init("malformedack", .ignored, "ipmi-pet: accept malformed acknowledgements."),
        .init("guidformat", .ignored, "bmc-info: alternative GUID byte order."),
        .init("ipmiping", .ignored, "ipmipower: use IPMI ping for discovery."),
        .init("assumeio", .ignored, "In-band only: assume the I/O base address."),
        .init("spinpoll", .ignored, "In-band only: spin-poll the KCS interface."),
    ].sorted { $0.name < $1.name }

    /// The workaround named `name` (case-insensitive, surrounding whitespace ignored), if known.
    public static func named(_ name: String) -> FreeIPMIWorkaround? {
        let key = normalized(name)
        return all.first { $0.name == key }
    }

    static func normalized(_ name: String) -> String {
        String(name.lowercased().drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }

    /// Splits entries on commas too, so `"opensesspriv,authcap"` given as one name still works.
    static func names(in entries: Set<String>) -> [String] {
        entries.flatMap { $0.split(separator: ",") }.map { normalized(String($0)) }.filter { !$0.isEmpty }
    }
}

/// Workaround names resolved into the flag words libfreeipmi takes.
struct ResolvedWorkarounds: Sendable, Hashable {
    var lan15: UInt32 = 0
    var lan20: UInt32 = 0
    var context: UInt32 = 0
    var sensorRead: UInt32 = 0
    var sel: UInt32 = 0

    /// Resolves `names`; unknown names throw `.invalidRequest` listing them.
    init(_ names: Set<String>) throws(IPMIError) {
        var unknown: [String] = []
        for name in FreeIPMIWorkaround.names(in: names) {
            guard let workaround = FreeIPMIWorkaround.named(name) else {
                if !unknown.contains(name) { unknown.append(name) }
                continue
            }
            lan15 |= workaround.lan15Flag
            lan20 |= workaround.lan20Flag
            context |= workaround.contextFlag
            sensorRead |= workaround.sensorReadFlag
            sel |= workaround.selFlag
        }
        guard unknown.isEmpty else {
            throw IPMIError(
                kind: .invalidRequest,
                message: "Unknown FreeIPMI workaround(s): \(unknown.sorted().joined(separator: ", ")). "
                    + "Known names: \(FreeIPMIWorkaround.all.map(\.name).joined(separator: ", ")).")
        }
    }
}
