import Core
import Foundation
import Logging
import RPC
import Store
import Synchronization

/// Why a node was left locked with work half done.
enum StrandCause: Sendable {
    /// This conductor crashed and started again.
    case restarted
    /// The conductor holding the lock stopped heartbeating (`kill -9`, host down, network cut).
    case wentOffline(String)
    /// This conductor stopped (SIGTERM) before its running work finished.
    case stopped

    func message(_ host: String, _ what: String) -> String {
        switch self {
        case .restarted: "Conductor \(host) restarted \(what)"
        case .wentOffline(let dead): "Conductor \(dead) went offline \(what)"
        case .stopped: "Conductor \(host) stopped \(what)"
        }
    }

    var eventType: NodeHistoryEvent.EventType {
        switch self {
        case .restarted: .startupFailure
        case .wentOffline: .takeover
        case .stopped: .conductor
        }
    }
}

/// What the take-over passes saw last: the live conductors and when the deployed-node pass last
/// ran in full; since when each lock holder without a conductor entry has been seen.
final class TakeoverState: Sendable {
    private let last = Mutex<(hosts: Set<String>, at: ContinuousClock.Instant)?>(nil)
    private let unknownSince = Mutex<[String: ContinuousClock.Instant]>([:])

    /// Of `holders` (lock holders no conductor entry names now), those seen unknown for at
    /// least `grace`; holders no longer unknown are forgotten.
    func unknownHolders(_ holders: Set<String>, unknownFor grace: Duration) -> Set<String> {
        let now = ContinuousClock.now
        return unknownSince.withLock { since in
            since = since.filter { holders.contains($0.key) }
            for holder in holders where since[holder] == nil { since[holder] = now }
            return Set(since.filter { now - $0.value >= grace }.keys)
        }
    }

    /// Moves every "unknown since" time `duration` into the past, as if that much time had
    /// passed; lets tests cross the grace period without sleeping through it.
    func backdateUnknownHolders(by duration: Duration) {
        unknownSince.withLock { since in
            for holder in since.keys { since[holder]! -= duration }
        }
    }

    /// Whether the live conductors differ from the last pass, or `interval` has passed.
    func isDue(hosts: Set<String>, interval: Duration) -> Bool {
        last.withLock { last in
            guard let last else { return true }
            return last.hosts != hosts || ContinuousClock.now - last.at >= interval
        }
    }

    func ran(hosts: Set<String>) {
        last.withLock { $0 = (hosts, .now) }
    }
}

extension Conductor {
    /// Repairs a node whose lock this conductor now holds but that `cause` left mid-action:
    /// a transient provision state moves to its failed state, an abandoned power target is
    /// cleared, each with a history entry; then the node is saved and unlocked.
    func repairStrandedNode(_ node: Node, cause: StrandCause) async throws {
        var node = node
        var reasons: [String] = []
        if node.provisionState.isStuckTreatedAsFailure, let failed = machine.nextState(from: node.provisionState, on: .fail) {
            let message = cause.message(hostname, "while node was in state \"\(node.provisionState.rawValue)\"; moved to \"\(failed.rawValue)\".")
            node.provisionState = failed
            node.targetProvisionState = machine.targetState(of: failed)
            node.provisionUpdatedAt = Date()
            node.lastError = message
            reasons.append(message)
        }
        if let target = node.targetPowerState {
            let message = cause.message(hostname, "during a power change to \"\(target.rawValue)\"; the change may not have happened.")
            node.targetPowerState = nil
            node.lastError = message
            reasons.append(message)
        }
        if !reasons.isEmpty { _ = try await store.saveNode(node) }
        try await store.releaseNode(uuid: node.uuid, conductor: hostname)
        for reason in reasons { await recordHistory(node, .error, cause.eventType, reason) }
        logger.warning("repaired a node left locked", metadata: ["node": "\(node.uuid)", "cause": "\(cause)"])
    }

    /// After a crash, nodes still reserved by this host were mid-action: repair them.
    func recoverAfterRestart() async throws {
        var query = NodeQuery()
        query.reservation = hostname
        for node in try await store.nodes(query) {
            try await repairStrandedNode(node, cause: .restarted)
        }
    }

    /// Locks held by conductors that are no longer alive: the node's new owner on the ring
    /// takes the lock over (exactly one conductor wins), repairs the node and unlocks it.
    ///
    /// A holder no conductor entry names (the entry was deleted, or the host came back under
    /// another `[DEFAULT] host`) counts as dead once it has stayed unknown for a heartbeat
    /// timeout: a live conductor whose entry was deleted registers again at its next heartbeat.
    /// Returns how many nodes this conductor repaired.
    @discardableResult
    public func takeOverOrphanedNodes() async -> Int {
        guard liveness.acceptsWork else { return 0 }
        var repaired = 0
        do {
            let snapshot = try await ring.refresh()
            let registered = Set(try await store.conductors().map(\.hostname))
            var query = NodeQuery()
            query.reserved = true
            let locked = try await store.nodes(query)
            let unknown = Set(locked.compactMap(\.reservation).filter { !registered.contains($0) && $0 != hostname })
            let expiredUnknown = takeover.unknownHolders(unknown, unknownFor: config.heartbeatTimeout)
            for node in locked where snapshot.owner(of: node) == hostname {
                guard let holder = node.reservation, holder != hostname, snapshot.conductors[holder] == nil else { continue }
                guard registered.contains(holder) || expiredUnknown.contains(holder) else { continue }
                do {
                    let taken = try await store.takeOverReservation(uuid: node.uuid, from: holder, to: hostname)
                    try await repairStrandedNode(taken, cause: .wentOffline(holder))
                    repaired += 1
                } catch let error as IronicError where error.code == "NodeLocked" {
                    continue  // Another conductor got there first, or the holder let go.
                }
            }
        } catch {
            logger.error("take-over of orphaned nodes failed: \(error)")
        }
        return repaired
    }

    /// Deployed nodes that the ring now maps to this conductor (a conductor died or joined):
    /// take them over as Ironic does — restart the serial console of nodes that have one
    /// enabled — and record this conductor in `conductor_affinity`. Runs when the set of live
    /// conductors changed, or every `interval` otherwise. Returns how many nodes moved here.
    @discardableResult
    public func takeOverDeployedNodes(interval: Duration) async -> Int {
        guard liveness.acceptsWork else { return 0 }
        var moved = 0
        do {
            let snapshot = try await ring.snapshot()
            let hosts = Set(snapshot.conductors.keys)
            guard takeover.isDue(hosts: hosts, interval: interval) else { return 0 }
            var query = NodeQuery()
            query.provisionState = .active
            for node in try await managedNodes(query, snapshot: snapshot) where node.conductorAffinity != hostname && node.reservation == nil {
                if try await takeOver(node.uuid, from: node.conductorAffinity) { moved += 1 }
            }
            takeover.ran(hosts: hosts)
        } catch {
            logger.error("take-over of deployed nodes failed: \(error)")
        }
        return moved
    }

    private func takeOver(_ uuid: String, from previous: String?) async throws -> Bool {
        let task: NodeTask
        do { task = try await tasks.acquire(uuid, purpose: "node take over") } catch let error as IronicError where error.code == "NodeLocked" {
            return false  // Busy: the next pass tries again.
        }
        let node = task.node
        guard node.provisionState == .active, node.conductorAffinity != hostname else {
            await tasks.release(task, save: false)
            return false
        }
        if node.consoleEnabled, let console = try? tasks.driver(for: task).console {
            do { try await console.startConsole(task) } catch {
                let message = "Conductor \(hostname) took node \(uuid) over but could not restart its console: \(Self.describe(error))"
                await recordHistory(node, .error, .console, message)
            }
        }
        task.updateNode { $0.conductorAffinity = hostname }
        await tasks.release(task)
        if let previous {
            logger.info("took node over", metadata: ["node": "\(uuid)", "from": "\(previous)"])
        }
        return true
    }
}
