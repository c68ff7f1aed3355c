import Core

/// Whether a node boots through UEFI or legacy BIOS, as Ironic decides it for a deployment.
public enum BootMode: String, Sendable, Hashable, CaseIterable {
    case uefi
    case bios

    /// The boot mode a node's deployment uses, in Ironic's order of precedence:
    /// secure boot requested in `instance_info.capabilities` (always UEFI), `boot_mode` in
    /// `instance_info.capabilities`, `instance_info.deploy_boot_mode`, `boot_mode` in
    /// `properties.capabilities`, `driver_internal_info.deploy_boot_mode`, the node's
    /// reported `boot_mode`, and finally `defaultMode` (UEFI, Ironic's default since Yoga).
    ///
    /// Capabilities may be a `"key:value,key:value"` string, a JSON object, or (in
    /// `instance_info`) a JSON object serialised into a string.
    public static func of(_ node: Node, defaultMode: BootMode = .uefi) -> BootMode {
        let instanceCapabilities = capabilities(node.instanceInfo["capabilities"])
        if let secure = instanceCapabilities["secure_boot"], ["true", "on", "yes", "1"].contains(secure.lowercased()) {
            return .uefi
        }
        let candidates: [String?] = [
            instanceCapabilities["boot_mode"],
            node.instanceInfo["deploy_boot_mode"]?.stringValue,
            capabilities(node.properties["capabilities"])["boot_mode"],
            node.driverInternalInfo["deploy_boot_mode"]?.stringValue,
            node.bootMode,
        ]
        for candidate in candidates {
            if let candidate, let mode = BootMode(rawValue: candidate.trimmed.lowercased()) { return mode }
        }
        return defaultMode
    }

    /// Capabilities as a dictionary, whatever form they were stored in; malformed entries are skipped.
    static func capabilities(_ value: JSONValue?) -> [String: String] {
        switch value {
        case .object(let object)?:
            return object.compactMapValues { value in
                switch value {
                case .string(let text): text
                case .bool(let flag): flag ? "true" : "false"
                case .int(let number): String(number)
                default: nil
                }
            }
        case .string(let text)?:
            let trimmed = text.trimmed
            if trimmed.hasPrefix("{"), let parsed = try? JSONValue.parse(Array(trimmed.utf8)), case .object = parsed {
                return capabilities(parsed)
            }
            var result: [String: String] = [:]
            for entry in trimmed.split(separator: ",") {
                let pair = entry.split(separator: ":", maxSplits: 1)
                guard pair.count == 2 else { continue }
                result[String(pair[0]).trimmed] = String(pair[1]).trimmed
            }
            return result
        default:
            return [:]
        }
    }
}
