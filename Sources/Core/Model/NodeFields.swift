import Foundation

/// A field of a node.
public typealias NodeField = ResourceField<Node>

extension Node {
    /// Every field the API knows, in Ironic's order of appearance.
    public static let fields: [NodeField] = {
        var fields: [NodeField] = []
        fields.append(
            NodeField("uuid", patchable: false, get: { .string($0.uuid) }, set: { node, value throws(IronicError) in
                guard let uuid = value.stringValue, UUIDText.isValid(uuid) else {
                    throw .invalidUUID(value.stringValue ?? value.serialized())
                }
                node.uuid = uuid.lowercased()
            }))
        fields.append(
            NodeField("name", since: 5, get: { .optional($0.name) }, set: { node, value throws(IronicError) in
                node.name = try value.optionalString(field: "name")
                if let name = node.name, !LogicalName.isValid(name) {
                    throw .invalidName(name)
                }
            }))
        fields.append(
            NodeField("chassis_uuid", get: { .optional($0.chassisUUID) }, set: { node, value throws(IronicError) in
                let uuid = try value.optionalString(field: "chassis_uuid")
                if let uuid, !UUIDText.isValid(uuid) { throw .invalidUUID(uuid) }
                node.chassisUUID = uuid?.lowercased()
            }))
        fields.append(
            NodeField("instance_uuid", get: { .optional($0.instanceUUID) }, set: { node, value throws(IronicError) in
                let uuid = try value.optionalString(field: "instance_uuid")
                if let uuid, !UUIDText.isValid(uuid) { throw .invalidUUID(uuid) }
                node.instanceUUID = uuid?.lowercased()
            }))
        fields.append(
            NodeField("driver", get: { .string($0.driver) }, set: { node, value throws(IronicError) in
                guard let driver = value.stringValue, !driver.isEmpty else {
                    throw .invalidParameterValue("Invalid input for field/attribute driver. Value: \(value.serialized()). Wrong type. Expected 'str'")
                }
                node.driver = driver
            }))
        fields.append(
            dictionary("driver_info", \.driverInfo))
        fields.append(
            dictionary("driver_internal_info", \.driverInternalInfo, since: 3, writable: false))
        fields.append(
            dictionary("instance_info", \.instanceInfo))
        fields.append(
            dictionary("properties", \.properties))
        fields.append(
            dictionary("extra", \.extra))
        fields.append(
            NodeField("power_state", creatable: false, get: { .optional($0.powerState?.rawValue) }))
        fields.append(
            NodeField("target_power_state", creatable: false, get: { .optional($0.targetPowerState?.rawValue) }))
        fields.append(
            NodeField("provision_state", creatable: false, get: { .string($0.provisionState.rawValue) }))
        fields.append(
            NodeField("target_provision_state", creatable: false, get: { .optional($0.targetProvisionState?.rawValue) }))
        fields.append(
            NodeField("provision_updated_at", get: { IronicDate.json($0.provisionUpdatedAt) }))
        fields.append(
            NodeField("maintenance", creatable: false, get: { .bool($0.maintenance) }, set: { node, value throws(IronicError) in
                node.maintenance = try value.flexibleBool(field: "maintenance") ?? false
            }))
        fields.append(
            NodeField("maintenance_reason", get: { .optional($0.maintenanceReason) }))
        fields.append(
            NodeField("last_error", get: { .optional($0.lastError) }))
        fields.append(
            NodeField("reservation", get: { .optional($0.reservation) }))
        fields.append(
            NodeField("console_enabled", get: { .bool($0.consoleEnabled) }))
        fields.append(
            NodeField("inspection_started_at", since: 6, get: { IronicDate.json($0.inspectionStartedAt) }))
        fields.append(
            NodeField("inspection_finished_at", since: 6, get: { IronicDate.json($0.inspectionFinishedAt) }))
        fields.append(
            dictionary("clean_step", \.cleanStep, since: 7, writable: false))
        fields.append(
            dictionary("raid_config", \.raidConfig, since: 12, writable: false))
        fields.append(
            dictionary("target_raid_config", \.targetRAIDConfig, since: 12, writable: false))
        fields.append(
            NodeField("resource_class", since: 21, get: { .optional($0.resourceClass) }, set: { node, value throws(IronicError) in
                let rc = try value.optionalString(field: "resource_class")
                if let rc, rc.count > 80 {
                    throw .invalidParameterValue("Invalid input for field/attribute resource_class. Value: '\(rc)'. Value should have a maximum character requirement of 80")
                }
                node.resourceClass = rc
            }))
        fields.append(
            NodeField("traits", since: 37, creatable: false, patchable: false, get: { .array($0.traits.map(JSONValue.string)) }))
        fields.append(
            NodeField("fault", since: 42, get: { .optional($0.fault) }))
        fields.append(
            dictionary("deploy_step", \.deployStep, since: 44, writable: false))
        fields.append(
            NodeField("conductor_group", since: 46, get: { .string($0.conductorGroup) }, set: { node, value throws(IronicError) in
                let group = try value.optionalString(field: "conductor_group") ?? ""
                guard group.count <= 255, group.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) }) else {
                    throw .invalidParameterValue("Invalid conductor_group: \(group). Must be 255 characters or fewer, and only contain letters, numbers, '.', '-' and '_'.")
                }
                node.conductorGroup = group.lowercased()
            }))
        fields.append(
            NodeField("automated_clean", since: 47, get: { .optional($0.automatedClean) }, set: { node, value throws(IronicError) in
                node.automatedClean = try value.flexibleBool(field: "automated_clean")
            }))
        fields.append(
            NodeField("protected", since: 48, creatable: false, get: { .bool($0.protected) }, set: { node, value throws(IronicError) in
                node.protected = try value.flexibleBool(field: "protected") ?? false
            }))
        fields.append(
            NodeField("protected_reason", since: 48, creatable: false, get: { .optional($0.protectedReason) }, set: { node, value throws(IronicError) in
                node.protectedReason = try value.optionalString(field: "protected_reason")
            }))
        fields.append(
            NodeField("conductor", since: 49, get: { _ in .null }))
        fields.append(
            NodeField("owner", since: 50, get: { .optional($0.owner) }, set: { node, value throws(IronicError) in
                node.owner = try value.optionalString(field: "owner")
            }))
        fields.append(
            NodeField("description", since: 51, get: { .optional($0.description) }, set: { node, value throws(IronicError) in
                let text = try value.optionalString(field: "description")
                if let text, text.count > 4096 {
                    throw .invalidParameterValue("Field description is too long: the maximum is 4096 characters.")
                }
                node.description = text
            }))
        fields.append(
            NodeField("allocation_uuid", since: 52, get: { .optional($0.allocationUUID) }))
        fields.append(
            NodeField("retired", since: 61, get: { .bool($0.retired) }, set: { node, value throws(IronicError) in
                node.retired = try value.flexibleBool(field: "retired") ?? false
            }))
        fields.append(
            NodeField("retired_reason", since: 61, get: { .optional($0.retiredReason) }, set: { node, value throws(IronicError) in
                node.retiredReason = try value.optionalString(field: "retired_reason")
            }))
        fields.append(
            NodeField("lessee", since: 65, get: { .optional($0.lessee) }, set: { node, value throws(IronicError) in
                node.lessee = try value.optionalString(field: "lessee")
            }))
        fields.append(
            dictionary("network_data", \.networkData, since: 66))
        fields.append(
            NodeField("boot_mode", since: 75, creatable: false, get: { .optional($0.bootMode) }))
        fields.append(
            NodeField("secure_boot", since: 75, creatable: false, get: { .optional($0.secureBoot) }))
        fields.append(
            NodeField("created_at", get: { .string(IronicDate.format($0.createdAt)) }))
        fields.append(
            NodeField("updated_at", get: { IronicDate.json($0.updatedAt) }))
        for kind in InterfaceKind.allCases {
            fields.append(NodeField(kind.nodeField, since: kind.minimumAPIMinor, get: { .optional($0.interfaces[kind]) },
                set: { node, value throws(IronicError) in
                    node.interfaces[kind] = try value.optionalString(field: kind.nodeField)
                }))
        }
        return fields
    }()

    /// Fields by wire name.
    public static let fieldsByName: [String: NodeField] = Dictionary(uniqueKeysWithValues: fields.map { ($0.name, $0) })

    private static func dictionary(_ name: String, _ keyPath: WritableKeyPath<Node, [String: JSONValue]> & Sendable,
                                   since minor: Int = 1, writable: Bool = true) -> NodeField {
        let setter: NodeField.Setter = { node, value throws(IronicError) in
            switch value {
            case .null: node[keyPath: keyPath] = [:]
            case .object(let object): node[keyPath: keyPath] = object
            default:
                throw .invalidParameterValue(
                    "Invalid input for field/attribute \(name). Value: \(value.serialized()). Wrong type. Expected a JSON object, got \(value.typeName)")
            }
        }
        return NodeField(name, since: minor, get: { .object($0[keyPath: keyPath]) }, set: writable ? setter : nil)
    }
}

extension JSONValue {
    /// `.string(value)` or `.null`.
    public static func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
    /// `.bool(value)` or `.null`.
    public static func optional(_ value: Bool?) -> JSONValue { value.map(JSONValue.bool) ?? .null }

    /// A string or null, else Ironic's type error for `field`.
    public func optionalString(field: String) throws(IronicError) -> String? {
        switch self {
        case .null: return nil
        case .string(let s): return s
        default:
            throw .invalidParameterValue("Invalid input for field/attribute \(field). Value: \(serialized()). Wrong type. Expected 'str', got '\(typeName)'")
        }
    }

    /// A Boolean, null, or one of Ironic's Boolean strings ("true", "false", "yes", "no", "1", "0", "on", "off").
    public func flexibleBool(field: String) throws(IronicError) -> Bool? {
        switch self {
        case .null: return nil
        case .bool(let b): return b
        case .string(let s):
            switch s.lowercased() {
            case "true", "yes", "y", "1", "on", "t": return true
            case "false", "no", "n", "0", "off", "f": return false
            default: break
            }
        default: break
        }
        throw .invalidParameterValue("Invalid input for field/attribute \(field). Value: \(serialized()). Unrecognized value '\(stringValue ?? serialized())', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'")
    }
}

/// Checks for canonical UUID text.
public enum UUIDText {
    /// Whether `text` is a UUID in 8-4-4-4-12 hex form (any case), or 32 hex digits.
    public static func isValid(_ text: String) -> Bool {
        let hex = text.filter { $0 != "-" }
        guard hex.count == 32, hex.allSatisfy(\.isHexDigit) else { return false }
        if text.count == 32 { return true }
        let groups = text.split(separator: "-", omittingEmptySubsequences: false).map(\.count)
        return groups == [8, 4, 4, 4, 12]
    }
}

/// Ironic's rule for node names (RFC 3986 unreserved characters, at most 255).
public enum LogicalName {
    /// Whether `name` is a valid logical name and not a UUID.
    public static func isValid(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= 255, !UUIDText.isValid(name) else { return false }
        return name.unicodeScalars.allSatisfy { scalar in
            (scalar.value < 128 && (CharacterSet.alphanumerics.contains(scalar))) || "-._~".unicodeScalars.contains(scalar)
        }
    }
}
