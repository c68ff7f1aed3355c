/// The hardware types and interfaces a service has enabled, and the rules that give each
/// node its interfaces. The API uses it to validate node fields; the conductor uses it to
/// build the driver a task runs.
public struct DriverRegistry: Sendable {
    /// Enabled hardware types in configuration order.
    public let hardwareTypes: [HardwareType]
    /// Enabled implementation names and the default, per hardware type and kind.
    public let registrations: [String: HardwareTypeRegistration]
    private let catalog: InterfaceCatalog

    /// Builds the registry from what the build ships and what configuration enables.
    ///
    /// - Throws: `IronicError` when configuration names an unknown hardware type or interface,
    ///   or leaves a hardware type without a usable core interface.
    public init(available: [HardwareType], catalog: InterfaceCatalog, config: DriverConfig) throws(IronicError) {
        var enabledTypes: [HardwareType] = []
        var registrations: [String: HardwareTypeRegistration] = [:]
        for kind in InterfaceKind.allCases {
            for name in config.enabledInterfaces[kind] ?? [] where catalog.implementation(kind, named: name) == nil {
                throw .invalidParameterValue(
                    "Could not find the following interface in the 'ironic.hardware.interfaces.\(kind.rawValue)' entrypoint: \(name). Valid interfaces are \(catalog.names(of: kind)).")
            }
        }
        for typeName in config.enabledHardwareTypes {
            guard let type = available.first(where: { $0.name == typeName }) else {
                throw .driverNotFound(typeName)
            }
            var interfaces: [InterfaceKind: EnabledInterfaces] = [:]
            for kind in InterfaceKind.allCases {
                let supported = type.supported[kind] ?? []
                let enabledNames = config.enabledInterfaces[kind] ?? catalog.names(of: kind)
                let enabled = supported.filter { enabledNames.contains($0) && catalog.implementation(kind, named: $0) != nil }
                var defaultName = enabled.first
                if let configured = config.defaultInterfaces[kind] {
                    defaultName = enabled.contains(configured) ? configured : nil
                }
                if defaultName == nil, kind.isCore {
                    throw .invalidParameterValue(
                        "No default value found for \(kind.rawValue) interface for hardware type \(typeName): enable one of \(supported).")
                }
                interfaces[kind] = EnabledInterfaces(enabled: enabled, defaultName: defaultName)
            }
            enabledTypes.append(type)
            registrations[typeName] = HardwareTypeRegistration(hardwareType: typeName, interfaces: interfaces)
        }
        self.hardwareTypes = enabledTypes
        self.registrations = registrations
        self.catalog = catalog
    }

    /// Registrations in configuration order, as a conductor records them.
    public var orderedRegistrations: [HardwareTypeRegistration] {
        hardwareTypes.compactMap { registrations[$0.name] }
    }

    /// The implementations of `kind` some enabled hardware type has enabled, each once (an
    /// alias such as `ipmitool-socat` names an implementation listed under its own name).
    public func enabledImplementations(of kind: InterfaceKind) -> [any HardwareInterface] {
        var seen = Set<String>()
        var found: [any HardwareInterface] = []
        for registration in orderedRegistrations {
            for name in registration.interfaces[kind]?.enabled ?? [] {
                guard let implementation = catalog.implementation(kind, named: name), seen.insert(implementation.name).inserted else { continue }
                found.append(implementation)
            }
        }
        return found
    }

    /// Checks `node.driver` and every `<kind>_interface` field, filling unset ones with defaults.
    ///
    /// `reset` lists kinds whose value should go back to the default (a driver change with
    /// `reset_interfaces`).
    public func resolveInterfaces(of node: inout Node, reset: Set<InterfaceKind> = []) throws(IronicError) {
        guard let registration = registrations[node.driver] else { throw .driverNotFound(node.driver) }
        for kind in InterfaceKind.allCases {
            let enabled = registration.interfaces[kind] ?? EnabledInterfaces(enabled: [], defaultName: nil)
            if let name = node.interfaces[kind], !reset.contains(kind) {
                if catalog.implementation(kind, named: name) == nil {
                    throw .interfaceNotFound(
                        "Could not find the following interface in the 'ironic.hardware.interfaces.\(kind.rawValue)' entrypoint: \(name). Valid interfaces are \(catalog.names(of: kind)).")
                }
                guard enabled.enabled.contains(name) else {
                    throw .init(
                        status: 400, code: "IncompatibleInterface",
                        message: "\(kind.rawValue) interface implementation '\(name)' is not supported by hardware type \(node.driver).")
                }
            } else if let defaultName = enabled.defaultName {
                node.interfaces[kind] = defaultName
            } else {
                node.interfaces[kind] = nil
            }
        }
    }

    /// The driver for `node`: one implementation per kind it has.
    public func driver(for node: Node) throws(IronicError) -> ComposedDriver {
        guard registrations[node.driver] != nil else { throw .driverNotFound(node.driver) }
        var parts: [InterfaceKind: any HardwareInterface] = [:]
        for (kind, name) in node.interfaces {
            if let implementation = catalog.implementation(kind, named: name) {
                parts[kind] = implementation
            }
        }
        return ComposedDriver(hardwareType: node.driver, interfaces: parts)
    }

    /// `driver_info` keys of every enabled default interface of a hardware type (what
    /// `GET /v1/drivers/{name}/properties` shows).
    public func properties(ofHardwareType name: String) throws(IronicError) -> [String: String] {
        guard let registration = registrations[name] else { throw .driverNotFound(name) }
        var result: [String: String] = [:]
        for (kind, enabled) in registration.interfaces {
            guard let defaultName = enabled.defaultName,
                let implementation = catalog.implementation(kind, named: defaultName)
            else { continue }
            result.merge(implementation.properties) { first, _ in first }
        }
        return result
    }
}

/// Which hardware types and interfaces configuration enables (`[DEFAULT] enabled_*`).
public struct DriverConfig: Sendable, Hashable {
    /// `enabled_hardware_types`.
    public var enabledHardwareTypes: [String]
    /// `enabled_<kind>_interfaces`; a kind not listed enables everything the build ships.
    public var enabledInterfaces: [InterfaceKind: [String]]
    /// `default_<kind>_interface`.
    public var defaultInterfaces: [InterfaceKind: String]

    /// Creates a driver configuration.
    public init(enabledHardwareTypes: [String], enabledInterfaces: [InterfaceKind: [String]] = [:],
                defaultInterfaces: [InterfaceKind: String] = [:]) {
        self.enabledHardwareTypes = enabledHardwareTypes
        self.enabledInterfaces = enabledInterfaces
        self.defaultInterfaces = defaultInterfaces
    }
}

/// The interfaces a node's task runs, one per kind.
public struct ComposedDriver: Sendable {
    /// The hardware type's name.
    public let hardwareType: String
    private let interfaces: [InterfaceKind: any HardwareInterface]

    /// Creates a driver from its parts.
    public init(hardwareType: String, interfaces: [InterfaceKind: any HardwareInterface]) {
        self.hardwareType = hardwareType
        self.interfaces = interfaces
    }

    /// The implementation of `kind`, if the node has one.
    public func interface(_ kind: InterfaceKind) -> (any HardwareInterface)? { interfaces[kind] }

    /// The implementation of `kind` as protocol `I`, or Ironic's `UnsupportedDriverExtension`.
    public func require<I>(_ kind: InterfaceKind, as type: I.Type) throws(IronicError) -> I {
        guard let value = interfaces[kind] as? I else {
            throw .unsupportedDriverExtension(driver: hardwareType, extension: kind.rawValue)
        }
        return value
    }

    public var power: (any PowerInterface)? { interfaces[.power] as? any PowerInterface }
    public var management: (any ManagementInterface)? { interfaces[.management] as? any ManagementInterface }
    public var deploy: (any DeployInterface)? { interfaces[.deploy] as? any DeployInterface }
    public var boot: (any BootInterface)? { interfaces[.boot] as? any BootInterface }
    public var console: (any ConsoleInterface)? { interfaces[.console] as? any ConsoleInterface }
    public var inspect: (any InspectInterface)? { interfaces[.inspect] as? any InspectInterface }
    public var rescue: (any RescueInterface)? { interfaces[.rescue] as? any RescueInterface }
    public var network: (any NetworkInterface)? { interfaces[.network] as? any NetworkInterface }
    public var vendor: (any VendorInterface)? { interfaces[.vendor] as? any VendorInterface }

    /// Runs every interface's `validate`, returning Ironic's per-interface result
    /// (`{"result": true}` or `{"result": false, "reason": ...}`) keyed by kind.
    public func validateAll(_ task: NodeTask) async -> [InterfaceKind: InterfaceValidation] {
        var results: [InterfaceKind: InterfaceValidation] = [:]
        for kind in InterfaceKind.allCases {
            guard let implementation = interfaces[kind] else {
                results[kind] = InterfaceValidation(result: nil, reason: "not supported")
                continue
            }
            do {
                try await implementation.validate(task)
                results[kind] = InterfaceValidation(result: true, reason: nil)
            } catch let error as IronicError {
                results[kind] = InterfaceValidation(result: false, reason: error.message)
            } catch {
                results[kind] = InterfaceValidation(result: false, reason: "\(error)")
            }
        }
        return results
    }
}

/// One interface's outcome in `GET /v1/nodes/{node}/validate`.
public struct InterfaceValidation: Sendable, Hashable, Codable {
    public var result: Bool?
    public var reason: String?

    /// Creates a result.
    public init(result: Bool?, reason: String?) {
        self.result = result
        self.reason = reason
    }
}
