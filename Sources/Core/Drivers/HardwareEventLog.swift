import Foundation

/// A hardware event the BMC logged (an IPMI SEL record, say), ready for the node's history.
public struct HardwareEvent: Sendable, Hashable {
    public var severity: NodeHistoryEvent.Severity
    public var message: String
    /// When the hardware logged it, if it says.
    public var timestamp: Date?

    /// Creates an event.
    public init(severity: NodeHistoryEvent.Severity, message: String, timestamp: Date? = nil) {
        self.severity = severity
        self.message = message
        self.timestamp = timestamp
    }
}

/// Implemented by management interfaces that can read a BMC's event log. The conductor polls
/// it periodically and records new events in the node's history.
public protocol HardwareEventLog: Sendable {
    /// Whether the node's configuration allows polling (operators may switch it off per node).
    func pollsEvents(for node: Node) -> Bool
    /// Events logged after `cursor` (all when nil), oldest first, with the cursor to pass next time.
    func events(of task: NodeTask, after cursor: String?) async throws -> (events: [HardwareEvent], cursor: String?)
}
