import Core
import Foundation
import Store

extension PostgreSQLStore {
    // MARK: Node inventory

    /// Stores a node's inspection report, replacing any earlier one. Throws `NodeNotFound`.
    public func saveInventory(nodeUUID: String, inventory: JSONValue, pluginData: JSONValue) async throws {
        var sql = TableRows.insert(
            "node_inventory", ["node_uuid", "inventory", "plugin_data", "created_at"],
            [.text(nodeUUID), .text(inventory.serialized()), .text(pluginData.serialized()), .timestamp(Date())])
        sql.append("""
             ON CONFLICT (node_uuid) DO UPDATE SET inventory = EXCLUDED.inventory,
                plugin_data = EXCLUDED.plugin_data, created_at = EXCLUDED.created_at
            """)
        try await insert(sql) {
            switch $0.constraint {
            case "node_inventory_node_uuid_fkey": IronicError.nodeNotFound(nodeUUID)
            default: IronicError.internalError("Database error: unexpected violation of \($0.constraint)")
            }
        }
    }

    /// A node's last inspection report. Throws `NodeInventoryNotFound`.
    public func inventory(nodeUUID: String) async throws -> NodeInventory {
        var select = SQLStatement("SELECT inventory, plugin_data, created_at FROM node_inventory WHERE node_uuid = ")
        select.bind(.text(nodeUUID))
        let found = try await fetch(select) { row in
            let inventory: String = try row[0]
            let pluginData: String = try row[1]
            return NodeInventory(
                nodeUUID: nodeUUID, inventory: try JSONValue.parse(Array(inventory.utf8)),
                pluginData: try JSONValue.parse(Array(pluginData.utf8)), createdAt: try row.date(2))
        }
        guard let report = found.first else { throw IronicError.inventoryNotFound(node: nodeUUID) }
        return report
    }
}
