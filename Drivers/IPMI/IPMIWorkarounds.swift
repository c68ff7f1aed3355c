import Core
import IPMI

/// FreeIPMI workaround names a node may list in `ipmi_workarounds`, and which path uses each.
///
/// The names are FreeIPMI's own (`ipmipower -W`, `ipmiconsole -W`), so an operator can try a
/// workaround with the command-line tools first and then copy it into `driver_info`. Real BMCs
/// need them: ipmi_sim, for one, needs `opensesspriv` for any IPMI 2.0 session and
/// `solchannelsupport` for serial-over-LAN.
///
/// Which names exist is the FreeIPMI client's knowledge (`FreeIPMIClient.validateWorkarounds`).
/// A name may apply to power and management sessions (libfreeipmi: session, sensor and SEL
/// workarounds), to the serial console (libipmiconsole), or to both; `opensesspriv` is in both,
/// since the console opens its own session.
public struct IPMIWorkarounds: Sendable, Hashable {
    /// Names that apply to the sessions power and management commands open.
    public var session: Set<String>
    /// Names that apply to serial-over-LAN sessions (kept for the console interface).
    public var console: Set<String>

    /// Creates a split list.
    public init(session: Set<String> = [], console: Set<String> = []) {
        self.session = session
        self.console = console
    }

    /// Serial-over-LAN names: they only matter to libipmiconsole, so power and management
    /// sessions leave them out.
    public static let consoleOnlyNames: Set<String> = [
        "solpayloadsize", "solport", "solstatus", "solchannelsupport", "serialalertsdeferred", "solpacketseq",
    ]

    /// Names libipmiconsole understands for serial-over-LAN sessions.
    public static let consoleNames: Set<String> = consoleOnlyNames.union([
        "authcap", "nochecksumcheck", "intel20", "supermicro20", "sun20", "opensesspriv", "integritycheckvalue",
    ])

    /// Every name accepted in `ipmi_workarounds`: those the FreeIPMI client knows (session,
    /// sensor and SEL workarounds, plus names of other FreeIPMI tools, which it accepts and
    /// ignores).
    public static var knownNames: Set<String> { Set(FreeIPMIClient.knownWorkarounds).union(consoleNames) }

    /// Reads `ipmi_workarounds`: a JSON list of names or one comma-separated string.
    ///
    /// Names are trimmed and lowercased; empty entries are ignored.
    ///
    /// - Throws: `InvalidParameterValue` for another JSON type, or for names FreeIPMI does not
    ///   know, listing them and the valid ones.
    public static func parse(_ value: JSONValue?) throws(IronicError) -> IPMIWorkarounds {
        let raw: [String]
        switch value {
        case nil, .null?:
            return IPMIWorkarounds()
        case .string(let text)?:
            raw = text.split(separator: ",").map(String.init)
        case .array(let items)?:
            var names: [String] = []
            for item in items {
                guard case .string(let name) = item else {
                    throw .invalidParameterValue(
                        "ipmi_workarounds must list FreeIPMI workaround names as strings; found a \(item.typeName) in the list.")
                }
                names.append(name)
            }
            raw = names
        case let other?:
            throw .invalidParameterValue(
                "ipmi_workarounds must be a list of FreeIPMI workaround names or a comma-separated string, not a \(other.typeName).")
        }
        let all = Set(raw.map { $0.trimmed.lowercased() }.filter { !$0.isEmpty })
        let unknown = FreeIPMIClient.validateWorkarounds(all.subtracting(consoleNames))
        guard unknown.isEmpty else {
            throw .invalidParameterValue(
                "Unknown FreeIPMI workaround(s) in ipmi_workarounds: \(unknown.joined(separator: ", ")). "
                    + "Valid names are: \(knownNames.sorted().joined(separator: ", ")).")
        }
        return IPMIWorkarounds(session: all.subtracting(consoleOnlyNames), console: all.intersection(consoleNames))
    }
}

extension String {
    /// The string without leading and trailing whitespace.
    var trimmed: String {
        var view = Substring(self)
        while let first = view.first, first.isWhitespace { view.removeFirst() }
        while let last = view.last, last.isWhitespace { view.removeLast() }
        return String(view)
    }
}
