import Core
import HardwareTypes
import Logging

/// The configuration a fresh install has: fake-hardware with everything shipped enabled.
let defaultConfig = DriverConfig(enabledHardwareTypes: ["fake-hardware"])

/// A task on `node`, holding the exclusive lock.
func makeTask(_ node: Node) -> NodeTask {
    NodeTask(node: node, conductor: "test-conductor", isShared: false, logger: Logger(label: "DriverTests"))
}

/// A fake-hardware node with its interfaces resolved under `config`, and its driver.
func fakeHardwareNode(config: DriverConfig = defaultConfig) throws -> (node: Node, driver: ComposedDriver) {
    let registry = try ShippedHardware.registry(config: config)
    var node = Node(driver: "fake-hardware")
    try registry.resolveInterfaces(of: &node)
    return (node, try registry.driver(for: node))
}

/// A task on a fake-hardware node, and the node's driver.
func fakeHardwareTask(config: DriverConfig = defaultConfig) throws -> (task: NodeTask, driver: ComposedDriver) {
    let (node, driver) = try fakeHardwareNode(config: config)
    return (makeTask(node), driver)
}

/// Ironic's `UnsupportedDriverExtension` message for a fake-hardware node lacking `kind`.
func unsupportedMessage(_ kind: String) -> String {
    "Driver fake-hardware does not support \(kind) (disabled or not implemented)."
}
