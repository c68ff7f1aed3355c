import Core
import Foundation
import Store

extension PostgreSQLStore {
    // MARK: Node history

    /// Field names history may be sorted by; the default (`id`) is oldest first.
    static let historySortKeys: Set<String> = ["id", "uuid", "created_at", "severity", "event_type"]

    /// Appends an entry to a node's history. Throws `NodeNotFound` for an unknown node.
    public func recordHistory(_ event: NodeHistoryEvent) async throws {
        try await insert(TableRows.insert("node_history", HistoryRow.columns, HistoryRow.values(of: event))) {
            switch $0.constraint {
            case "node_history_node_uuid_fkey": IronicError.nodeNotFound(event.nodeUUID)
            case "uniq_node_history0uuid": IronicError.alreadyExists("NodeHistory", uuid: event.uuid)
            default: IronicError.internalError("Database error: unexpected violation of \($0.constraint)")
            }
        }
    }

    /// A node's history, oldest first (or in `page` order), after `page.marker` (an entry UUID),
    /// at most `page.limit`. An unknown node has no history.
    public func history(nodeUUID: String, page: PageQuery) async throws -> [NodeHistoryEvent] {
        var select = SelectBuilder(table: "node_history", columns: HistoryRow.selection)
        select.equal("node_uuid", nodeUUID)
        try await select.page(page, sortKeys: Self.historySortKeys, store: self)
        return try await fetch(select.sql, HistoryRow.decode)
    }

    /// One history entry of a node. Throws `NodeHistoryNotFound`.
    public func historyEvent(nodeUUID: String, uuid: String) async throws -> NodeHistoryEvent {
        var select = SQLStatement("SELECT \(HistoryRow.selection) FROM node_history WHERE uuid = ")
        select.bind(.text(uuid))
        select.append(" AND node_uuid = ")
        select.bind(.text(nodeUUID))
        guard let event = try await fetch(select, HistoryRow.decode).first else { throw IronicError.historyNotFound(uuid) }
        return event
    }
}

/// The `node_history` table (`user` is a reserved word in PostgreSQL, hence quoted).
enum HistoryRow {
    static let columns = ["uuid", "node_uuid", "created_at", "severity", "event_type", "event", "conductor", "\"user\""]
    static let selection = columns.joined(separator: ", ")

    static func values(of event: NodeHistoryEvent) -> [SQLValue] {
        [
            .text(event.uuid),
            .text(event.nodeUUID),
            .timestamp(event.createdAt),
            .text(event.severity.rawValue),
            .text(event.eventType.rawValue),
            .text(event.event),
            .text(event.conductor),
            .text(event.user),
        ]
    }

    static func decode(_ row: Cells) throws -> NodeHistoryEvent {
        let uuid: String = try row[0]
        let severity: String = try row[3]
        let eventType: String = try row[4]
        guard let severityValue = NodeHistoryEvent.Severity(rawValue: severity),
            let eventTypeValue = NodeHistoryEvent.EventType(rawValue: eventType)
        else {
            throw IronicError.internalError("History entry \(uuid) has an unknown severity or type.")
        }
        return NodeHistoryEvent(
            uuid: uuid, nodeUUID: try row[1], createdAt: try row.date(2), severity: severityValue,
            eventType: eventTypeValue, event: try row[5], conductor: try row[6], user: try row[7])
    }
}
