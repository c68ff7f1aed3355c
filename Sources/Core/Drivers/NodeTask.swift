import Foundation
import Logging
import Synchronization

/// What a conductor hands every driver call: the node (under the lock the conductor took),
/// and a way to change it. Drivers never reach the database themselves; the conductor saves
/// the node when the task ends.
public final class NodeTask: Sendable {
    /// Hostname of the conductor running the task.
    public let conductor: String
    /// `true` when the task holds only a shared (read) lock.
    public let isShared: Bool
    /// Logger with the node's UUID in its metadata.
    public let logger: Logger
    private let state: Mutex<Node>
    private let portState = Mutex<[NodePort]>([])

    /// Creates a task for `node`.
    public init(node: Node, conductor: String, isShared: Bool, logger: Logger) {
        self.state = Mutex(node)
        self.conductor = conductor
        self.isShared = isShared
        var logger = logger
        logger[metadataKey: "node"] = "\(node.uuid)"
        self.logger = logger
    }

    /// The node as the task currently sees it.
    public var node: Node { state.withLock { $0 } }

    /// The node's ports, as the conductor loaded them for work that needs them (boot
    /// configuration by MAC, inspection); empty otherwise.
    public var ports: [NodePort] { portState.withLock { $0 } }

    /// Sets the ports the task's work sees.
    public func setPorts(_ ports: [NodePort]) {
        portState.withLock { $0 = ports }
    }

    /// Changes the node in memory; the conductor persists it.
    public func updateNode(_ body: (inout Node) -> Void) {
        state.withLock { body(&$0) }
    }
}
