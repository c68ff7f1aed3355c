import Core
import Foundation
import GRDB
import Store

extension SQLiteStore {
    // MARK: Node history

    /// Field names history may be sorted by; the default (`id`) is oldest first.
    static let historySortKeys: Set<String> = ["id", "uuid", "created_at", "severity", "event_type"]

    /// Appends an entry to a node's history. Throws `NodeNotFound` for an unknown node.
    public func recordHistory(_ event: NodeHistoryEvent) async throws {
        let arguments = StatementArguments(HistoryRow.values(of: event))
        try await write { db in
            do {
                try db.cachedStatement(sql: HistoryRow.insertSQL).execute(arguments: arguments)
            } catch let error as DatabaseError where error.isForeignKeyViolation {
                throw IronicError.nodeNotFound(event.nodeUUID)
            } catch let error as DatabaseError where error.uniqueColumns.contains("node_history.uuid") {
                throw IronicError.alreadyExists("NodeHistory", uuid: event.uuid)
            }
        }
    }

    /// A node's history, oldest first (or in `page` order), after `page.marker` (an entry UUID),
    /// at most `page.limit`. An unknown node has no history.
    public func history(nodeUUID: String, page: PageQuery) async throws -> [NodeHistoryEvent] {
        try await read { db in
            var select = SelectBuilder(table: "node_history", columns: HistoryRow.selection)
            select.equal("node_uuid", nodeUUID)
            try select.page(page, sortKeys: Self.historySortKeys, db: db)
            return try select.fetch(db, HistoryRow.decode)
        }
    }

    /// One history entry of a node. Throws `NodeHistoryNotFound`.
    public func historyEvent(nodeUUID: String, uuid: String) async throws -> NodeHistoryEvent {
        try await read { db in
            let statement = try db.cachedStatement(
                sql: "SELECT \(HistoryRow.selection) FROM node_history WHERE uuid = ? AND node_uuid = ?")
            guard let row = try Row.fetchOne(statement, arguments: [uuid, nodeUUID]) else {
                throw IronicError.historyNotFound(uuid)
            }
            return try HistoryRow.decode(row)
        }
    }
}

/// The `node_history` table.
enum HistoryRow {
    static let columns = ["uuid", "node_uuid", "created_at", "severity", "event_type", "event", "conductor", "user"]
    static let selection = columns.joined(separator: ", ")
    static let insertSQL = Columns.insertSQL(table: "node_history", columns: columns)

    static func values(of event: NodeHistoryEvent) -> [DatabaseValue] {
        [
            event.uuid.databaseValue,
            event.nodeUUID.databaseValue,
            ColumnCoding.micros(event.createdAt).databaseValue,
            event.severity.rawValue.databaseValue,
            event.eventType.rawValue.databaseValue,
            event.event.databaseValue,
            event.conductor.databaseValue,
            event.user.databaseValue,
        ]
    }

    static func decode(_ row: Row) throws -> NodeHistoryEvent {
        let severity: String = row[3]
        let eventType: String = row[4]
        guard let severityValue = NodeHistoryEvent.Severity(rawValue: severity),
            let eventTypeValue = NodeHistoryEvent.EventType(rawValue: eventType)
        else {
            throw IronicError.internalError("History entry \(row[0] as String) has an unknown severity or type.")
        }
        return NodeHistoryEvent(
            uuid: row[0], nodeUUID: row[1], createdAt: row.date(2), severity: severityValue,
            eventType: eventTypeValue, event: row[5], conductor: row[6], user: row[7])
    }
}
