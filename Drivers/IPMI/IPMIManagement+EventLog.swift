import Core
import Foundation
import IPMI

extension IPMIManagement: HardwareEventLog {
    /// Polling is on unless the node's `driver_info` says `ipmi_sel_poll: false`.
    public func pollsEvents(for node: Node) -> Bool {
        guard node.driverInfo["ipmi_address"] != nil else { return false }
        let flag = try? node.driverInfo["ipmi_sel_poll"]?.flexibleBool(field: "ipmi_sel_poll")
        return flag != false
    }

    /// SEL records after `cursor` (a record ID), oldest first, as history events.
    public func events(of task: NodeTask, after cursor: String?) async throws -> (events: [HardwareEvent], cursor: String?) {
        let info = try backend.driverInfo(task)
        let after = cursor.flatMap { UInt16($0) }
        let records = try await backend.run("sel list", task, info) { client, options in
            try await client.readSEL(after: after, options)
        }
        let events = records.map { record in
            HardwareEvent(
                severity: Self.severity(of: record),
                message: "BMC event log record \(record.recordID): \(record.description)",
                timestamp: record.timestamp.map { Date(timeIntervalSince1970: TimeInterval($0)) })
        }
        return (events, records.last.map { String($0.recordID) } ?? cursor)
    }

    /// Severity of a SEL record: threshold events by how far the threshold is crossed
    /// (non-critical → WARNING, critical → ERROR, non-recoverable → CRITICAL), deassertions
    /// and OEM records INFO, other sensor events WARNING.
    static func severity(of record: SELRecord) -> NodeHistoryEvent.Severity {
        guard record.recordType == 0x02 else { return .info }
        if record.deassertion { return .info }
        guard record.eventType == 0x01, let first = record.eventData.first else { return .warning }
        switch first & 0x0F {
        case 0x00, 0x01, 0x06, 0x07: return .warning
        case 0x02, 0x03, 0x08, 0x09: return .error
        case 0x04, 0x05, 0x0A, 0x0B: return .critical
        default: return .warning
        }
    }
}
