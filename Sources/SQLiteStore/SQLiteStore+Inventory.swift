import Core
import Foundation
import GRDB
import Store

extension SQLiteStore {
    // MARK: Node inventory

    /// Stores a node's inspection report, replacing any earlier one. Throws `NodeNotFound`.
    public func saveInventory(nodeUUID: String, inventory: JSONValue, pluginData: JSONValue) async throws {
        let arguments: StatementArguments = [
            nodeUUID, inventory.serialized(), pluginData.serialized(), ColumnCoding.micros(Date()),
        ]
        try await write { db in
            do {
                try db.cachedStatement(sql: """
                    INSERT INTO node_inventory (node_uuid, inventory, plugin_data, created_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT(node_uuid) DO UPDATE SET inventory = excluded.inventory,
                        plugin_data = excluded.plugin_data, created_at = excluded.created_at
                    """).execute(arguments: arguments)
            } catch let error as DatabaseError where error.isForeignKeyViolation {
                throw IronicError.nodeNotFound(nodeUUID)
            }
        }
    }

    /// A node's last inspection report. Throws `NodeInventoryNotFound`.
    public func inventory(nodeUUID: String) async throws -> NodeInventory {
        try await read { db in
            let statement = try db.cachedStatement(
                sql: "SELECT inventory, plugin_data, created_at FROM node_inventory WHERE node_uuid = ?")
            guard let row = try Row.fetchOne(statement, arguments: [nodeUUID]) else {
                throw IronicError.inventoryNotFound(node: nodeUUID)
            }
            let inventory: String = row[0]
            let pluginData: String = row[1]
            return NodeInventory(
                nodeUUID: nodeUUID, inventory: try JSONValue.parse(Array(inventory.utf8)),
                pluginData: try JSONValue.parse(Array(pluginData.utf8)), createdAt: row.date(2))
        }
    }
}
