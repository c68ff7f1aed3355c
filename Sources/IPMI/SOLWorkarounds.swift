import CFreeIPMI

/// FreeIPMI workaround names (as `ipmiconsole -W` takes them) turned into libipmiconsole flags.
///
/// Names FreeIPMI knows that mean nothing for a serial console (sensor or SEL workarounds) are
/// accepted and ignored, so one `ipmi_workarounds` list serves power, management and console;
/// unknown names are refused.
public enum SOLWorkarounds {
    /// The names that change a SOL session, with their libipmiconsole flag.
    public static let flagsByName: [String: UInt32] = [
        "authcap": UInt32(IPMICONSOLE_WORKAROUND_AUTHENTICATION_CAPABILITIES),
        "intel20": UInt32(IPMICONSOLE_WORKAROUND_INTEL_2_0_SESSION),
        "supermicro20": UInt32(IPMICONSOLE_WORKAROUND_SUPERMICRO_2_0_SESSION),
        "sun20": UInt32(IPMICONSOLE_WORKAROUND_SUN_2_0_SESSION),
        "opensesspriv": UInt32(IPMICONSOLE_WORKAROUND_OPEN_SESSION_PRIVILEGE),
        "integritycheckvalue": UInt32(IPMICONSOLE_WORKAROUND_NON_EMPTY_INTEGRITY_CHECK_VALUE),
        "nochecksumcheck": UInt32(IPMICONSOLE_WORKAROUND_NO_CHECKSUM_CHECK),
        "serialalertsdeferred": UInt32(IPMICONSOLE_WORKAROUND_SERIAL_ALERTS_DEFERRED),
        "solpacketseq": UInt32(IPMICONSOLE_WORKAROUND_INCREMENT_SOL_PACKET_SEQUENCE),
        "solpayloadsize": UInt32(IPMICONSOLE_WORKAROUND_IGNORE_SOL_PAYLOAD_SIZE),
        "solport": UInt32(IPMICONSOLE_WORKAROUND_IGNORE_SOL_PORT),
        "solstatus": UInt32(IPMICONSOLE_WORKAROUND_SKIP_SOL_ACTIVATION_STATUS),
        "solchannelsupport": UInt32(IPMICONSOLE_WORKAROUND_SKIP_CHANNEL_PAYLOAD_SUPPORT),
    ]

    /// The flag word for `names` (comma-separated entries are split); 0 for none.
    ///
    /// - Throws: `SOLError.invalidRequest` naming every unknown workaround.
    public static func flags(for names: Set<String>) throws(SOLError) -> UInt32 {
        var flags: UInt32 = 0
        var unknown: [String] = []
        for name in FreeIPMIWorkaround.names(in: names) {
            if let flag = flagsByName[name] {
                flags |= flag
            } else if FreeIPMIWorkaround.named(name) == nil, !unknown.contains(name) {
                unknown.append(name)
            }
        }
        guard unknown.isEmpty else {
            throw SOLError(
                kind: .invalidRequest,
                message: "Unknown FreeIPMI workaround(s): \(unknown.sorted().joined(separator: ", ")).")
        }
        return flags
    }
}
