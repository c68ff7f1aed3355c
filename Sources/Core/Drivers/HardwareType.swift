/// A hardware type: for each interface kind, the implementation names it supports, most
/// preferred first. With the enabled lists from configuration, the first enabled supported
/// name is a node's default.
public struct HardwareType: Sendable, Hashable {
    /// The name nodes use in their `driver` field.
    public let name: String
    /// Supported implementation names per kind, in order of preference.
    public let supported: [InterfaceKind: [String]]

    /// Creates a hardware type.
    public init(name: String, supported: [InterfaceKind: [String]]) {
        self.name = name
        self.supported = supported
    }
}

/// Every interface implementation a build ships, by kind and name.
public struct InterfaceCatalog: Sendable {
    private var implementations: [InterfaceKind: [String: any HardwareInterface]] = [:]

    /// An empty catalog.
    public init() {}

    /// Adds an implementation under its kind and name (a later one with the same name replaces it).
    public mutating func register<I: HardwareInterface>(_ implementation: I) {
        implementations[I.kind, default: [:]][implementation.name] = implementation
    }

    /// Adds an implementation under an extra name (for compatibility aliases).
    public mutating func register<I: HardwareInterface>(_ implementation: I, alias: String) {
        implementations[I.kind, default: [:]][alias] = implementation
    }

    /// The implementation of `kind` called `name`.
    public func implementation(_ kind: InterfaceKind, named name: String) -> (any HardwareInterface)? {
        implementations[kind]?[name]
    }

    /// Every name registered for `kind`, sorted.
    public func names(of kind: InterfaceKind) -> [String] {
        (implementations[kind] ?? [:]).keys.sorted()
    }
}
