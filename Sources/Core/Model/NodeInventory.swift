import Foundation

/// What an inspecting ramdisk reported about a node: IPA's `inventory` and the plugin data
/// beside it, as `GET /v1/nodes/{node}/inventory` (API 1.81) returns them.
public struct NodeInventory: Sendable, Equatable {
    /// The node the data describes.
    public var nodeUUID: String
    /// IPA's inventory object (cpu, memory, disks, interfaces, system_vendor, bmc_address, ...).
    public var inventory: JSONValue
    /// The rest of the ramdisk's report (`plugin_data` in Ironic).
    public var pluginData: JSONValue
    /// When the data was last stored.
    public var createdAt: Date

    public init(nodeUUID: String, inventory: JSONValue, pluginData: JSONValue, createdAt: Date) {
        self.nodeUUID = nodeUUID
        self.inventory = inventory
        self.pluginData = pluginData
        self.createdAt = createdAt
    }
}
