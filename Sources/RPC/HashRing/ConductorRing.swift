import Core
import Foundation
import Store
import Synchronization

/// Which live conductor owns a node: one `HashRing` per (conductor group, hardware type) over
/// the conductors whose heartbeat is newer than `heartbeat_timeout` and that serve that
/// hardware type, as in Ironic.
///
/// The rings are rebuilt from the conductors table when they are older than
/// `hash_ring_reset_interval`, and at once when a lookup finds no conductor (a conductor that
/// just joined is found without waiting a whole interval). Every API and conductor process
/// computes the same answer from the same table.
public final class ConductorRing: Sendable {
    /// A snapshot of the live conductors and their rings.
    public struct Snapshot: Sendable {
        /// Live conductors by hostname.
        public let conductors: [String: ConductorRecord]
        let rings: [RingKey: HashRing]
        /// Registered conductors that serve a group and hardware type but are not alive.
        let silent: [RingKey: [String]]
        let builtAt: ContinuousClock.Instant

        /// The owner of `node`, or nil when no live conductor serves its group and driver.
        public func owner(of node: Node) -> String? {
            rings[RingKey(group: node.conductorGroup, hardwareType: node.driver)]?.host(for: node.uuid)
        }
    }

    struct RingKey: Hashable, Sendable {
        var group: String
        var hardwareType: String
    }

    private let store: any Store
    private let heartbeatTimeout: Duration
    private let config: HashRingConfig
    private let current = Mutex<Snapshot?>(nil)

    /// Creates a ring over the conductors in `store`.
    public init(store: any Store, heartbeatTimeout: Duration, config: HashRingConfig = HashRingConfig()) {
        self.store = store
        self.heartbeatTimeout = heartbeatTimeout
        self.config = config
    }

    /// The current snapshot, rebuilt first when it is older than the reset interval or when
    /// the heartbeat it recorded for one of its conductors has since expired (that conductor
    /// may be dead: its nodes must move as soon as the others may take them).
    public func snapshot() async throws -> Snapshot {
        if let snapshot = current.withLock({ $0 }), ContinuousClock.now - snapshot.builtAt < config.resetInterval {
            let now = Date()
            if snapshot.conductors.values.allSatisfy({ $0.isAlive(now: now, timeout: heartbeatTimeout) }) {
                return snapshot
            }
        }
        return try await refresh()
    }

    /// Rebuilds the rings from the conductors table now.
    @discardableResult
    public func refresh() async throws -> Snapshot {
        let now = Date()
        var alive: [ConductorRecord] = []
        var members: [RingKey: [String]] = [:]
        var silent: [RingKey: [String]] = [:]
        for conductor in try await store.conductors() {
            let isAlive = conductor.isAlive(now: now, timeout: heartbeatTimeout)
            if isAlive { alive.append(conductor) }
            for registration in conductor.hardwareTypes {
                let key = RingKey(group: conductor.conductorGroup, hardwareType: registration.hardwareType)
                if isAlive { members[key, default: []].append(conductor.hostname) } else { silent[key, default: []].append(conductor.hostname) }
            }
        }
        let snapshot = Snapshot(
            conductors: Dictionary(alive.map { ($0.hostname, $0) }, uniquingKeysWith: { first, _ in first }),
            rings: members.mapValues { HashRing(hosts: $0, partitionExponent: config.partitionExponent) },
            silent: silent, builtAt: .now)
        current.withLock { $0 = snapshot }
        return snapshot
    }

    /// The live conductor that owns `node`; a miss rebuilds the rings once before giving up.
    public func owner(of node: Node) async throws -> String? {
        if let owner = try await snapshot().owner(of: node) { return owner }
        return try await refresh().owner(of: node)
    }

    /// The owner of `node`. When there is none: 503 if conductors serving the node's group
    /// and hardware type are registered but none is alive (retry later), Ironic's 400
    /// `NoValidHost` if none is registered at all (the driver or group is wrong).
    public func requireOwner(of node: Node) async throws -> String {
        if let owner = try await snapshot().owner(of: node) { return owner }
        let snapshot = try await refresh()
        if let owner = snapshot.owner(of: node) { return owner }
        let silent = snapshot.silent[RingKey(group: node.conductorGroup, hardwareType: node.driver)] ?? []
        guard silent.isEmpty else { throw IronicError.noLiveConductor(node, silent: silent.sorted(), timeout: heartbeatTimeout) }
        throw IronicError.noValidHost(node)
    }
}

extension IronicError {
    /// 503: conductors for the node are registered, but none has heartbeated recently.
    public static func noLiveConductor(_ node: Node, silent: [String], timeout: Duration) -> IronicError {
        IronicError(
            status: 503, code: "TemporaryFailure",
            message: "No live conductor serves driver \(node.driver) in conductor group \"\(node.conductorGroup)\": \(silent.joined(separator: ", ")) did not heartbeat within \(timeout.components.seconds) seconds. Retry once a conductor is back.")
    }

    /// 400 `NoValidHost`: no live conductor serves the node's hardware type in its group.
    public static func noValidHost(_ node: Node) -> IronicError {
        IronicError(
            status: 400, code: "NoValidHost",
            message: "No valid host was found. Reason: No conductor service registered which supports driver \(node.driver) for conductor group \"\(node.conductorGroup)\". Ensure the driver is valid and enabled.")
    }
}
