import Core
import HardwareTypes
import IPMIHardware
import Testing

@Suite("The ipmi hardware type in the registry")
struct HardwareTypeTests {
    private let config = DriverConfig(enabledHardwareTypes: ["fake-hardware", "ipmi"])

    @Test("An ipmi node's defaults: ipmi power, management and vendor; direct deploy, ipxe boot, agent inspection")
    func defaults() throws {
        let registry = try ShippedHardware.registry(config: config, ipmi: IPMIInterfaces(client: MockBMC()))
        var node = Node(driver: "ipmi")
        try registry.resolveInterfaces(of: &node)
        #expect(
            node.interfaces == [
                .bios: "no-bios", .boot: "ipxe", .console: "no-console", .deploy: "direct", .firmware: "no-firmware",
                .inspect: "agent", .management: "ipmi", .network: "noop", .power: "ipmi", .raid: "no-raid",
                .rescue: "no-rescue", .storage: "noop", .vendor: "ipmi",
            ])
        let driver = try registry.driver(for: node)
        #expect(driver.power is IPMIPower)
        #expect(driver.management is IPMIManagement)
        #expect(driver.vendor is IPMIVendor)
    }

    @Test("Enabled lists in Ironic's order, shipped names only")
    func enabledLists() throws {
        let registry = try ShippedHardware.registry(config: config)
        let registration = try #require(registry.registrations["ipmi"])
        let enabled = registration.interfaces.mapValues(\.enabled)
        #expect(enabled[.power] == ["ipmi", "ipmitool"])
        #expect(enabled[.management] == ["ipmi", "ipmitool"])
        #expect(enabled[.vendor] == ["ipmi", "ipmitool", "no-vendor"])
        #expect(enabled[.console] == ["no-console", "ipmi-proxy", "ipmitool-socat"])
        #expect(enabled[.deploy] == ["direct", "ansible", "fake"])
        #expect(enabled[.boot] == ["ipxe", "pxe", "fake"])
        #expect(enabled[.rescue] == ["no-rescue", "agent"], "no-rescue stays the default, as in Ironic")
        #expect(HardwareType.ipmi.supported[.deploy]?.first == "autodetect")
        #expect(HardwareType.ipmi.supported[.boot] == ["ipxe", "pxe", "http-ipxe", "http", "fake"])
    }

    @Test("Ironic's ipmitool names select the same implementations")
    func ipmitoolAlias() throws {
        let registry = try ShippedHardware.registry(config: config, ipmi: IPMIInterfaces(client: MockBMC()))
        var node = Node(driver: "ipmi")
        node.interfaces = [.power: "ipmitool", .management: "ipmitool", .vendor: "ipmitool"]
        try registry.resolveInterfaces(of: &node)
        #expect(node.interfaces[.power] == "ipmitool")
        let driver = try registry.driver(for: node)
        #expect(driver.power is IPMIPower)
        #expect(driver.management is IPMIManagement)
        #expect(driver.vendor is IPMIVendor)

        let ironicStyle = DriverConfig(
            enabledHardwareTypes: ["ipmi"], enabledInterfaces: [.power: ["ipmitool"], .management: ["ipmitool"]])
        var other = Node(driver: "ipmi")
        try ShippedHardware.registry(config: ironicStyle).resolveInterfaces(of: &other)
        #expect(other.interfaces[.power] == "ipmitool")
        #expect(other.interfaces[.management] == "ipmitool")
    }

    @Test("GET /drivers/ipmi/properties lists every ipmi_* key")
    func properties() throws {
        let registry = try ShippedHardware.registry(config: config)
        let properties = try registry.properties(ofHardwareType: "ipmi")
        for key in IPMIDriverInfo.properties.keys {
            #expect(properties[key] != nil, "missing \(key)")
        }
        #expect(properties["ipmi_address"]?.hasSuffix("Required.") == true)
    }

    @Test("ipmi is shipped but only enabled on request")
    func shipped() throws {
        #expect(ShippedHardware.hardwareTypes.map(\.name) == ["fake-hardware", "ipmi"])
        let fakeOnly = try ShippedHardware.registry(config: DriverConfig(enabledHardwareTypes: ["fake-hardware"]))
        #expect(fakeOnly.registrations["ipmi"] == nil)
    }
}
