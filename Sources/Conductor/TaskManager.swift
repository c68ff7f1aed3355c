import Core
import Foundation
import Logging
import Store

/// Takes and releases node locks for one conductor, and builds the task every driver call
/// receives. An exclusive task owns the node's `reservation` until `release` saves the node
/// and clears it.
public struct TaskManager: Sendable {
    let store: any Store
    let registry: DriverRegistry
    let hostname: String
    let retryAttempts: Int
    let retryInterval: Duration
    let liveness: Liveness
    let logger: Logger

    /// An exclusive task: the node is locked by this conductor. Refused (503) while this
    /// conductor's heartbeat does not reach the database.
    public func acquire(_ nodeUUID: String, purpose: String) async throws -> NodeTask {
        guard liveness.acceptsWork else { throw liveness.refusal(hostname) }
        var attempt = 1
        while true {
            do {
                let node = try await store.reserveNode(uuid: nodeUUID, conductor: hostname)
                logger.debug("locked node for \(purpose)", metadata: ["node": "\(nodeUUID)"])
                return NodeTask(node: node, conductor: hostname, isShared: false, logger: logger)
            } catch let error as IronicError where error.code == "NodeLocked" && attempt < retryAttempts {
                attempt += 1
                try await Task.sleep(for: retryInterval)
            }
        }
    }

    /// A shared task: reads only, no lock taken.
    public func shared(_ nodeUUID: String) async throws -> NodeTask {
        let node = try await store.node(uuid: nodeUUID)
        return NodeTask(node: node, conductor: hostname, isShared: true, logger: logger)
    }

    /// The driver composed for the task's node.
    public func driver(for task: NodeTask) throws(IronicError) -> ComposedDriver {
        try registry.driver(for: task.node)
    }

    /// Writes the task's node (without touching the lock).
    @discardableResult
    public func save(_ task: NodeTask) async throws -> Node {
        let saved = try await store.saveNode(task.node)
        task.updateNode { $0 = saved.withReservation($0.reservation) }
        return saved
    }

    /// Saves the node and releases its lock. Never throws: a failure is logged, and the lock
    /// is released even when the save fails, so a node is never left reserved.
    ///
    /// A conductor that was frozen (SIGSTOP, a VM pause) past `heartbeat_timeout` may find
    /// its lock taken over by another conductor: then its changes are discarded rather than
    /// written over the other conductor's repair of the node.
    public func release(_ task: NodeTask, save: Bool = true) async {
        if save, let current = try? await store.node(uuid: task.node.uuid), current.reservation != hostname {
            logger.warning(
                "lock was taken over while this conductor was unresponsive; discarding its changes",
                metadata: ["node": "\(task.node.uuid)", "holder": "\(current.reservation ?? "none")"])
            return
        }
        if save {
            do { _ = try await store.saveNode(task.node) } catch {
                logger.error("could not save node on release: \(error)", metadata: ["node": "\(task.node.uuid)"])
            }
        }
        do { try await store.releaseNode(uuid: task.node.uuid, conductor: hostname) } catch {
            logger.error("could not release node lock: \(error)", metadata: ["node": "\(task.node.uuid)"])
        }
    }
}

extension Node {
    func withReservation(_ reservation: String?) -> Node {
        var copy = self
        copy.reservation = reservation
        return copy
    }
}
