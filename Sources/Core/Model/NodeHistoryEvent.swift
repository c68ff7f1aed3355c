import Foundation

/// One entry of a node's history (`GET /v1/nodes/{node}/history`).
public struct NodeHistoryEvent: Sendable, Hashable, Codable {
    public var uuid: String
    public var nodeUUID: String
    public var createdAt: Date
    public var severity: Severity
    public var eventType: EventType
    public var event: String
    public var conductor: String?
    public var user: String?

    /// Creates an entry.
    public init(uuid: String = UUID().uuidString.lowercased(), nodeUUID: String, createdAt: Date = Date(),
                severity: Severity, eventType: EventType, event: String, conductor: String?, user: String? = nil) {
        self.uuid = uuid
        self.nodeUUID = nodeUUID
        self.createdAt = createdAt
        self.severity = severity
        self.eventType = eventType
        self.event = event
        self.conductor = conductor
        self.user = user
    }

    /// Severity, as Ironic writes it.
    public enum Severity: String, Codable, Sendable, CaseIterable, Hashable {
        case info = "INFO"
        case warning = "WARNING"
        case error = "ERROR"
        case critical = "CRITICAL"
    }

    /// Ironic's history event types.
    public enum EventType: String, Codable, Sendable, CaseIterable, Hashable {
        case provisioning
        case takeover
        case introspection
        case conductor
        case transition
        case startupFailure = "startup failure"
        case unprovision
        case adoption
        case console
        case monitoring
        case verify
    }
}
