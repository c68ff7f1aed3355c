import Foundation

/// A field of a port.
public typealias PortField = ResourceField<NodePort>
/// A field of a portgroup.
public typealias PortgroupField = ResourceField<Portgroup>
/// A field of a chassis.
public typealias ChassisField = ResourceField<Chassis>

// MARK: Ports

extension NodePort {
    /// Every field the API knows, in Ironic's order of appearance.
    public static let fields: [PortField] = {
        let schema = SchemaCheck(resource: "port")
        return [
            PortField("uuid", patchable: false, get: { .string($0.uuid) }, set: { port, value throws(IronicError) in
                port.uuid = try schema.uuid(value, field: "uuid") ?? UUID().uuidString.lowercased()
            }),
            PortField("address", get: { .string($0.address) }, set: { port, value throws(IronicError) in
                port.address = try schema.mac(value, field: "address", nullable: false) ?? port.address
            }),
            PortField("node_uuid", get: { .string($0.nodeUUID) }, set: { port, value throws(IronicError) in
                guard let uuid = try schema.uuid(value, field: "node_uuid", nullable: false) else { return }
                port.nodeUUID = uuid
            }),
            PortField("extra", get: { .object($0.extra) }, set: { port, value throws(IronicError) in
                port.extra = try schema.object(value, field: "extra")
            }),
            PortField("internal_info", since: 18, get: { .object($0.internalInfo) }),
            PortField("local_link_connection", since: 19, get: { .object($0.localLinkConnection) },
                      set: { port, value throws(IronicError) in
                port.localLinkConnection = try LocalLinkConnection.validated(value)
            }),
            PortField("pxe_enabled", since: 19, get: { .bool($0.pxeEnabled) }, set: { port, value throws(IronicError) in
                port.pxeEnabled = try schema.bool(value, field: "pxe_enabled") ?? true
            }),
            PortField("portgroup_uuid", since: 24, get: { .optional($0.portgroupUUID) }, set: { port, value throws(IronicError) in
                port.portgroupUUID = try schema.uuid(value, field: "portgroup_uuid")
            }),
            PortField("physical_network", since: 34, get: { .optional($0.physicalNetwork) }, set: { port, value throws(IronicError) in
                let network = try schema.string(value, field: "physical_network", maxLength: 64)
                if let network, network.isEmpty {
                    throw .init(status: 400, code: "Invalid", message: "A non-empty value is required when setting physical_network")
                }
                port.physicalNetwork = network
            }),
            PortField("is_smartnic", since: 53, get: { .bool($0.isSmartNIC) }, set: { port, value throws(IronicError) in
                port.isSmartNIC = try schema.bool(value, field: "is_smartnic") ?? false
            }),
            PortField("created_at", get: { .string(IronicDate.format($0.createdAt)) }),
            PortField("updated_at", get: { IronicDate.json($0.updatedAt) }),
        ]
    }()

    /// Fields by wire name.
    public static let fieldsByName: [String: PortField] = Dictionary(uniqueKeysWithValues: fields.map { ($0.name, $0) })
}

// MARK: Portgroups

extension Portgroup {
    /// Mode of a portgroup created without one (Ironic's `[DEFAULT] default_portgroup_mode`).
    public static let defaultMode = "active-backup"

    /// Every field the API knows, in Ironic's order of appearance.
    public static let fields: [PortgroupField] = {
        let schema = SchemaCheck(resource: "portgroup")
        return [
            PortgroupField("uuid", patchable: false, get: { .string($0.uuid) }, set: { group, value throws(IronicError) in
                group.uuid = try schema.uuid(value, field: "uuid") ?? UUID().uuidString.lowercased()
            }),
            PortgroupField("name", get: { .optional($0.name) }, set: { group, value throws(IronicError) in
                // The API checks the name's syntax itself: its message depends on create vs update.
                let name = try schema.string(value, field: "name")
                group.name = (name?.isEmpty ?? true) ? nil : name
            }),
            PortgroupField("address", get: { .optional($0.address) }, set: { group, value throws(IronicError) in
                group.address = try schema.mac(value, field: "address", nullable: true)
            }),
            PortgroupField("node_uuid", get: { .string($0.nodeUUID) }, set: { group, value throws(IronicError) in
                guard let uuid = try schema.uuid(value, field: "node_uuid", nullable: false) else { return }
                group.nodeUUID = uuid
            }),
            PortgroupField("extra", get: { .object($0.extra) }, set: { group, value throws(IronicError) in
                group.extra = try schema.object(value, field: "extra")
            }),
            PortgroupField("internal_info", get: { .object($0.internalInfo) }),
            PortgroupField("standalone_ports_supported", get: { .bool($0.standalonePortsSupported) },
                           set: { group, value throws(IronicError) in
                group.standalonePortsSupported = try schema.bool(value, field: "standalone_ports_supported") ?? true
            }),
            PortgroupField("mode", since: 26, get: { .optional($0.mode) }, set: { group, value throws(IronicError) in
                let mode = try schema.string(value, field: "mode")
                group.mode = (mode?.isEmpty ?? true) ? Portgroup.defaultMode : mode
            }),
            PortgroupField("properties", since: 26, get: { .object($0.properties) }, set: { group, value throws(IronicError) in
                group.properties = try schema.object(value, field: "properties")
            }),
            PortgroupField("created_at", get: { .string(IronicDate.format($0.createdAt)) }),
            PortgroupField("updated_at", get: { IronicDate.json($0.updatedAt) }),
        ]
    }()

    /// Fields by wire name.
    public static let fieldsByName: [String: PortgroupField] = Dictionary(uniqueKeysWithValues: fields.map { ($0.name, $0) })
}

// MARK: Chassis

extension Chassis {
    /// Every field the API knows, in Ironic's order of appearance.
    public static let fields: [ChassisField] = {
        let schema = SchemaCheck(resource: "chassis")
        return [
            ChassisField("uuid", patchable: false, get: { .string($0.uuid) }, set: { chassis, value throws(IronicError) in
                chassis.uuid = try schema.uuid(value, field: "uuid") ?? UUID().uuidString.lowercased()
            }),
            ChassisField("description", get: { .optional($0.description) }, set: { chassis, value throws(IronicError) in
                chassis.description = try schema.string(value, field: "description", maxLength: 255)
            }),
            ChassisField("extra", get: { .object($0.extra) }, set: { chassis, value throws(IronicError) in
                chassis.extra = try schema.object(value, field: "extra")
            }),
            ChassisField("created_at", get: { .string(IronicDate.format($0.createdAt)) }),
            ChassisField("updated_at", get: { IronicDate.json($0.updatedAt) }),
        ]
    }()

    /// Fields by wire name.
    public static let fieldsByName: [String: ChassisField] = Dictionary(uniqueKeysWithValues: fields.map { ($0.name, $0) })
}

// MARK: Validation

/// Type checks with the messages of Ironic's JSON-schema validation of a request body
/// (`Schema error for port: 5 is not of type 'string', 'null'`), all 400 `InvalidParameterValue`.
public struct SchemaCheck: Sendable {
    /// The body's name in messages (`port`, `portgroup`, `chassis`).
    public let resource: String

    /// Creates the checker for one resource.
    public init(resource: String) {
        self.resource = resource
    }

    /// The error for a schema violation.
    public func error(_ detail: String) -> IronicError {
        .invalidParameterValue("Schema error for \(resource): \(detail)")
    }

    /// `Additional properties are not allowed ('x' was unexpected)`.
    public func unexpected(_ names: [String]) -> IronicError {
        let list = names.map { "'\($0)'" }.joined(separator: ", ")
        let verb = names.count == 1 ? "was" : "were"
        return error("Additional properties are not allowed (\(list) \(verb) unexpected)")
    }

    /// `'address' is a required property`.
    public func required(_ name: String) -> IronicError {
        error("'\(name)' is a required property")
    }

    func typeError(_ value: JSONValue, _ types: [String]) -> IronicError {
        error("\(value.pythonRepr) is not of type \(types.map { "'\($0)'" }.joined(separator: ", "))")
    }

    /// A string, or nil for JSON null when `nullable`.
    public func string(_ value: JSONValue, field: String, nullable: Bool = true, maxLength: Int? = nil) throws(IronicError) -> String? {
        switch value {
        case .string(let text):
            if let maxLength, text.count > maxLength { throw error("\(value.pythonRepr) is too long") }
            return text
        case .null where nullable: return nil
        default: throw typeError(value, nullable ? ["string", "null"] : ["string"])
        }
    }

    /// A JSON object; null means empty.
    public func object(_ value: JSONValue, field: String) throws(IronicError) -> [String: JSONValue] {
        switch value {
        case .object(let object): return object
        case .null: return [:]
        default: throw typeError(value, ["object", "null"])
        }
    }

    /// A Boolean or one of Ironic's Boolean strings; nil for null.
    public func bool(_ value: JSONValue, field: String) throws(IronicError) -> Bool? {
        switch value {
        case .null: return nil
        case .bool(let flag): return flag
        case .string(let text):
            switch text.lowercased() {
            case "true", "yes", "y", "1", "on", "t": return true
            case "false", "no", "n", "0", "off", "f": return false
            default:
                throw .invalidParameterValue(
                    "Invalid \(field): Unrecognized value '\(text)', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'")
            }
        default: throw typeError(value, ["string", "boolean", "null"])
        }
    }

    /// A UUID, lower-cased; nil for null when `nullable`.
    public func uuid(_ value: JSONValue, field: String, nullable: Bool = true) throws(IronicError) -> String? {
        guard let text = try string(value, field: field, nullable: nullable) else { return nil }
        guard UUIDText.isValid(text) else { throw .invalidParameterValue("Expected UUID for \(field): \(text)") }
        return text.lowercased()
    }

    /// A MAC address, lower-cased; nil for null when `nullable`.
    public func mac(_ value: JSONValue, field: String, nullable: Bool) throws(IronicError) -> String? {
        guard let text = try string(value, field: field, nullable: nullable) else { return nil }
        guard let normalized = MACAddress.normalized(text) else {
            throw .invalidParameterValue("Expected valid MAC address for \(field): \(text)")
        }
        return normalized
    }
}

/// Ethernet MAC addresses as Ironic accepts them: six colon-separated hex pairs.
public enum MACAddress {
    /// The lower-case form of `text`, or nil when it is not a MAC address.
    public static func normalized(_ text: String) -> String? {
        let groups = text.split(separator: ":", omittingEmptySubsequences: false)
        guard groups.count == 6, groups.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isHexDigit) && $0.allSatisfy(\.isASCII) }) else {
            return nil
        }
        return text.lowercased()
    }
}

/// A port's `local_link_connection`: how it is wired to its switch.
public enum LocalLinkConnection {
    /// Keys a connection may have.
    public static let keys: Set<String> = ["port_id", "switch_id", "hostname", "switch_info", "network_type"]

    /// Checks a connection (Ironic's schema: either `port_id` + `switch_id`, or `port_id` +
    /// `hostname` for a Smart NIC, or `network_type: unmanaged`, or empty) and normalizes
    /// `switch_id` to lower case. Null means empty.
    public static func validated(_ value: JSONValue) throws(IronicError) -> [String: JSONValue] {
        let schema = SchemaCheck(resource: "local_link_connection")
        var connection = try schema.object(value, field: "local_link_connection")
        if connection.isEmpty { return connection }
        let unknown = connection.keys.filter { !keys.contains($0) }.sorted()
        if !unknown.isEmpty { throw schema.unexpected(unknown) }
        for (key, item) in connection where item.stringValue == nil {
            throw schema.error("\(item.pythonRepr) is not of type 'string' (in \(key))")
        }
        if let type = connection["network_type"]?.stringValue, type != "managed", type != "unmanaged" {
            throw schema.error("'\(type)' is not one of ['managed', 'unmanaged']")
        }
        let has = { (key: String) in connection[key] != nil }
        let valid = (has("port_id") && has("switch_id")) || (has("port_id") && has("hostname"))
            || connection["network_type"]?.stringValue == "unmanaged"
        guard valid else {
            throw schema.error("\(JSONValue.object(connection).pythonRepr) is not valid under any of the given schemas")
        }
        if let switchID = connection["switch_id"]?.stringValue {
            if let mac = MACAddress.normalized(switchID) {
                connection["switch_id"] = .string(mac)
            } else if switchID.count == 16, switchID.allSatisfy({ $0.isHexDigit && $0.isASCII }) {
                connection["switch_id"] = .string(switchID.lowercased())
            } else {
                throw .init(
                    status: 400, code: "InvalidSwitchID",
                    message: "Expected a MAC address or OpenFlow datapath ID but received \(switchID).")
            }
        }
        return connection
    }

    /// Whether a Smart NIC port's connection names its `port_id` and `hostname`.
    public static func isValidForSmartNIC(_ connection: [String: JSONValue]) -> Bool {
        connection["port_id"] != nil && connection["hostname"] != nil
    }
}

extension JSONValue {
    /// How Python prints the value, as Ironic's validation messages show it.
    public var pythonRepr: String {
        switch self {
        case .null: return "None"
        case .bool(let flag): return flag ? "True" : "False"
        case .int(let number): return String(number)
        case .double(let number): return String(number)
        case .string(let text): return "'\(text)'"
        case .array(let items): return "[" + items.map(\.pythonRepr).joined(separator: ", ") + "]"
        case .object(let object):
            return "{" + object.keys.sorted().map { "'\($0)': \(object[$0]!.pythonRepr)" }.joined(separator: ", ") + "}"
        }
    }
}
