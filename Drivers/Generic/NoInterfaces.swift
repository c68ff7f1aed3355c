import Core

// Ironic's `no-*` implementations: defaults for optional kinds a node does not use. Unlike the
// fake ones they fail validation and refuse every user-reachable operation, so a node reports
// "not supported" for the kind instead of pretending to have done something.

extension IronicError {
    /// Ironic's `UnsupportedDriverExtension` as the `no-*` interfaces raise it: the node's
    /// hardware type and the kind it lacks.
    static func unsupported(_ kind: InterfaceKind, on task: NodeTask) -> IronicError {
        .unsupportedDriverExtension(driver: task.node.driver, extension: kind.rawValue)
    }
}

/// `no-console`: the node has no serial console.
public struct NoConsole: ConsoleInterface {
    /// `no-console`.
    public var name: String { "no-console" }

    /// Creates the implementation.
    public init() {}

    /// Always fails with `UnsupportedDriverExtension`.
    public func validate(_ task: NodeTask) async throws { throw IronicError.unsupported(Self.kind, on: task) }

    /// Always fails with `UnsupportedDriverExtension`.
    public func startConsole(_ task: NodeTask) async throws { throw IronicError.unsupported(Self.kind, on: task) }

    /// Always fails with `UnsupportedDriverExtension`.
    public func stopConsole(_ task: NodeTask) async throws { throw IronicError.unsupported(Self.kind, on: task) }

    /// Always fails with `UnsupportedDriverExtension`.
    public func consoleInfo(_ task: NodeTask) async throws -> ConsoleInfo {
        throw IronicError.unsupported(Self.kind, on: task)
    }
}

/// `no-rescue`: the node cannot be rescued.
public struct NoRescue: RescueInterface {
    /// `no-rescue`.
    public var name: String { "no-rescue" }

    /// Creates the implementation.
    public init() {}

    /// Always fails with `UnsupportedDriverExtension`.
    public func validate(_ task: NodeTask) async throws { throw IronicError.unsupported(Self.kind, on: task) }

    /// Always fails with `UnsupportedDriverExtension`.
    public func rescue(_ task: NodeTask) async throws -> DriverStepResult {
        throw IronicError.unsupported(Self.kind, on: task)
    }

    /// Always fails with `UnsupportedDriverExtension`.
    public func unrescue(_ task: NodeTask) async throws { throw IronicError.unsupported(Self.kind, on: task) }
}

/// `no-inspect`: the node cannot be inspected.
public struct NoInspect: InspectInterface {
    /// `no-inspect`.
    public var name: String { "no-inspect" }

    /// Creates the implementation.
    public init() {}

    /// Always fails with `UnsupportedDriverExtension`.
    public func validate(_ task: NodeTask) async throws { throw IronicError.unsupported(Self.kind, on: task) }

    /// Always fails with `UnsupportedDriverExtension`.
    public func inspectHardware(_ task: NodeTask) async throws -> DriverStepResult {
        throw IronicError.unsupported(Self.kind, on: task)
    }
}

/// `no-vendor`: the node has no vendor passthru methods.
public struct NoVendor: VendorInterface {
    /// `no-vendor`.
    public var name: String { "no-vendor" }

    /// None.
    public var routes: [String: VendorRoute] { [:] }

    /// Creates the implementation.
    public init() {}

    /// Always fails with `UnsupportedDriverExtension`.
    public func validate(_ task: NodeTask) async throws { throw IronicError.unsupported(Self.kind, on: task) }

    /// Always fails with `UnsupportedDriverExtension`, before any work is queued.
    public func validateCall(_ method: String, httpMethod: String, body: JSONValue?, task: NodeTask) throws(IronicError) {
        throw .unsupported(Self.kind, on: task)
    }

    /// Always fails with `UnsupportedDriverExtension`.
    public func call(_ method: String, httpMethod: String, body: JSONValue?, task: NodeTask) async throws -> JSONValue? {
        throw IronicError.unsupported(Self.kind, on: task)
    }
}

/// `no-raid`: the node has no RAID configuration.
public struct NoRAID: RAIDInterface {
    /// `no-raid`.
    public var name: String { "no-raid" }

    /// Creates the implementation.
    public init() {}

    /// Always fails with `UnsupportedDriverExtension`.
    public func validate(_ task: NodeTask) async throws { throw IronicError.unsupported(Self.kind, on: task) }
}

/// `no-bios`: the node's BIOS settings are not managed.
public struct NoBIOS: BIOSInterface {
    /// `no-bios`.
    public var name: String { "no-bios" }

    /// Creates the implementation.
    public init() {}

    /// Always fails with `UnsupportedDriverExtension`.
    public func validate(_ task: NodeTask) async throws { throw IronicError.unsupported(Self.kind, on: task) }
}

/// `no-firmware`: the node's firmware is not managed.
public struct NoFirmware: FirmwareInterface {
    /// `no-firmware`.
    public var name: String { "no-firmware" }

    /// Creates the implementation.
    public init() {}

    /// Always fails with `UnsupportedDriverExtension`.
    public func validate(_ task: NodeTask) async throws { throw IronicError.unsupported(Self.kind, on: task) }
}
