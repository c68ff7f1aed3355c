import Core
import HardwareTypes
import Testing

@Suite("Shipped hardware types and interface resolution")
struct RegistryTests {
    @Test("A fake-hardware node gets a default for all 13 kinds")
    func defaultsForEveryKind() throws {
        let (node, _) = try fakeHardwareNode()
        let expected: [InterfaceKind: String] = [
            .bios: "fake", .boot: "fake", .console: "fake", .deploy: "fake", .firmware: "fake",
            .inspect: "fake", .management: "fake", .network: "noop", .power: "fake", .raid: "fake",
            .rescue: "fake", .storage: "fake", .vendor: "fake",
        ]
        #expect(node.interfaces == expected)
        #expect(node.interfaces.count == InterfaceKind.allCases.count)
    }

    @Test("Enabled lists follow Ironic's fake-hardware order, shipped names only")
    func enabledListsInIronicOrder() throws {
        let registry = try ShippedHardware.registry(config: defaultConfig)
        let registration = try #require(registry.registrations["fake-hardware"])
        let enabled = registration.interfaces.mapValues(\.enabled)
        #expect(enabled == [
            .bios: ["fake", "no-bios"],
            .boot: ["fake", "ipxe", "pxe"],
            .console: ["fake", "no-console"],
            .deploy: ["fake", "direct", "ansible"],
            .firmware: ["fake", "no-firmware"],
            .inspect: ["fake", "agent", "no-inspect"],
            .management: ["fake"],
            .network: ["noop"],
            .power: ["fake"],
            .raid: ["fake", "no-raid"],
            .rescue: ["fake", "no-rescue", "agent"],
            .storage: ["fake", "noop"],
            .vendor: ["fake", "no-vendor"],
        ])
    }

    @Test("The catalog holds each implementation under its own kind and name")
    func catalogIsConsistent() {
        let catalog = ShippedHardware.catalog()
        for kind in InterfaceKind.allCases {
            #expect(!catalog.names(of: kind).isEmpty, "nothing shipped for \(kind)")
            for name in catalog.names(of: kind) {
                let implementation = catalog.implementation(kind, named: name)
                // Compatibility aliases (`ipmitool`, `ipmitool-socat`) answer with their real name.
                #expect(implementation?.name == name || ["ipmitool", "ipmitool-socat"].contains(name))
                #expect(implementation.map { type(of: $0).kind } == kind)
            }
        }
        #expect(catalog.names(of: .network) == ["noop"])
        #expect(catalog.names(of: .storage) == ["fake", "noop"])
        #expect(ShippedHardware.hardwareTypes.map(\.name) == ["fake-hardware", "ipmi"])
    }

    @Test("Restricting enabled interfaces moves the default to the next enabled one")
    func enabledInterfacesChangeDefaults() throws {
        let config = DriverConfig(
            enabledHardwareTypes: ["fake-hardware"],
            enabledInterfaces: [.console: ["no-console"], .raid: ["no-raid", "fake"], .vendor: ["no-vendor"]])
        let (node, _) = try fakeHardwareNode(config: config)
        #expect(node.interfaces[.console] == "no-console")
        // Configuration order does not matter; the hardware type's order does.
        #expect(node.interfaces[.raid] == "fake")
        #expect(node.interfaces[.vendor] == "no-vendor")
        #expect(node.interfaces[.power] == "fake")
    }

    @Test("default_<kind>_interface overrides the hardware type's preference")
    func configuredDefaultHonoured() throws {
        let config = DriverConfig(
            enabledHardwareTypes: ["fake-hardware"],
            defaultInterfaces: [.rescue: "no-rescue", .storage: "noop"])
        let (node, _) = try fakeHardwareNode(config: config)
        #expect(node.interfaces[.rescue] == "no-rescue")
        #expect(node.interfaces[.storage] == "noop")
        #expect(node.interfaces[.inspect] == "fake")
    }

    @Test("An explicit interface survives resolution; reset puts the default back")
    func explicitAndReset() throws {
        let registry = try ShippedHardware.registry(config: defaultConfig)
        var node = Node(driver: "fake-hardware")
        node.interfaces[.console] = "no-console"
        try registry.resolveInterfaces(of: &node)
        #expect(node.interfaces[.console] == "no-console")
        try registry.resolveInterfaces(of: &node, reset: [.console])
        #expect(node.interfaces[.console] == "fake")
    }

    @Test("An unknown hardware type is DriverNotFound")
    func unknownHardwareType() throws {
        let configError = #expect(throws: IronicError.self) {
            try ShippedHardware.registry(config: DriverConfig(enabledHardwareTypes: ["fake-hardware", "ilo"]))
        }
        #expect(configError?.status == 404)
        #expect(configError?.code == "DriverNotFound")
        #expect(configError?.message == "Could not find the following driver(s) or hardware type(s): ilo.")

        let registry = try ShippedHardware.registry(config: defaultConfig)
        var node = Node(driver: "ipmi")
        let nodeError = #expect(throws: IronicError.self) { try registry.resolveInterfaces(of: &node) }
        #expect(nodeError?.code == "DriverNotFound")
        #expect(throws: IronicError.driverNotFound("ipmi")) { try registry.properties(ofHardwareType: "ipmi") }
    }

    @Test("A known but disabled interface is IncompatibleInterface")
    func incompatibleInterface() throws {
        let config = DriverConfig(enabledHardwareTypes: ["fake-hardware"], enabledInterfaces: [.console: ["no-console"]])
        let registry = try ShippedHardware.registry(config: config)
        var node = Node(driver: "fake-hardware")
        node.interfaces[.console] = "fake"
        let error = #expect(throws: IronicError.self) { try registry.resolveInterfaces(of: &node) }
        #expect(error?.status == 400)
        #expect(error?.code == "IncompatibleInterface")
    }

    @Test("Enabled implementations of a kind: across hardware types, each once, aliases folded")
    func enabledImplementationsOfAKind() throws {
        let both = try ShippedHardware.registry(config: DriverConfig(enabledHardwareTypes: ["fake-hardware", "ipmi"]))
        // ipmi enables ipmi-proxy under its own name and as Ironic's ipmitool-socat: one implementation.
        #expect(both.enabledImplementations(of: .console).map(\.name) == ["fake", "no-console", "ipmi-proxy"])
        let fakeOnly = try ShippedHardware.registry(config: DriverConfig(enabledHardwareTypes: ["fake-hardware"]))
        #expect(fakeOnly.enabledImplementations(of: .console).map(\.name) == ["fake", "no-console"])
        let narrowed = try ShippedHardware.registry(
            config: DriverConfig(enabledHardwareTypes: ["fake-hardware", "ipmi"], enabledInterfaces: [.console: ["no-console"]]))
        #expect(narrowed.enabledImplementations(of: .console).map(\.name) == ["no-console"])
    }

    @Test("A hardware type that does not list an interface rejects it")
    func unsupportedByHardwareType() throws {
        let narrow = HardwareType(
            name: "narrow",
            supported: [.boot: ["fake"], .deploy: ["fake"], .management: ["fake"], .power: ["fake"], .console: ["no-console"]])
        let registry = try DriverRegistry(
            available: ShippedHardware.hardwareTypes + [narrow], catalog: ShippedHardware.catalog(),
            config: DriverConfig(enabledHardwareTypes: ["narrow"]))
        var node = Node(driver: "narrow")
        node.interfaces[.console] = "fake"
        let error = #expect(throws: IronicError.self) { try registry.resolveInterfaces(of: &node) }
        #expect(error?.code == "IncompatibleInterface")
        #expect(error?.message == "console interface implementation 'fake' is not supported by hardware type narrow.")
    }

    @Test("An interface name nothing ships is InterfaceNotFoundInEntrypoint")
    func unknownInterfaceName() throws {
        let registry = try ShippedHardware.registry(config: defaultConfig)
        var node = Node(driver: "fake-hardware")
        node.interfaces[.power] = "redfish"
        let error = #expect(throws: IronicError.self) { try registry.resolveInterfaces(of: &node) }
        #expect(error?.status == 400)
        #expect(error?.code == "InterfaceNotFoundInEntrypoint")
        #expect(error?.message.contains("'ironic.hardware.interfaces.power' entrypoint: redfish") == true)
    }

    @Test("Configuration naming an unshipped interface, or none for a core kind, is refused")
    func badEnabledInterfaces() {
        let unknown = #expect(throws: IronicError.self) {
            try ShippedHardware.registry(config: DriverConfig(enabledHardwareTypes: ["fake-hardware"], enabledInterfaces: [.boot: ["redfish-virtual-media"]]))
        }
        #expect(unknown?.code == "InvalidParameterValue")
        let empty = #expect(throws: IronicError.self) {
            try ShippedHardware.registry(config: DriverConfig(enabledHardwareTypes: ["fake-hardware"], enabledInterfaces: [.power: []]))
        }
        #expect(empty?.code == "InvalidParameterValue")
    }

    @Test("Properties merge the default interfaces' driver_info keys")
    func propertiesAggregation() throws {
        let registry = try ShippedHardware.registry(config: defaultConfig)
        // Only the fake vendor documents keys, as in Ironic.
        #expect(try registry.properties(ofHardwareType: "fake-hardware") == [
            "B1": "B1 description. Required.", "B2": "B2 description. Required.",
        ])
        let noVendor = try ShippedHardware.registry(
            config: DriverConfig(enabledHardwareTypes: ["fake-hardware"], defaultInterfaces: [.vendor: "no-vendor"]))
        #expect(try noVendor.properties(ofHardwareType: "fake-hardware") == [:])
    }
}
