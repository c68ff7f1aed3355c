import ArgumentParser
import Core
import Foundation
import Store

/// `ironic node ...`: operator tools that work on the database directly, for nodes no API
/// call can fix: a lock left by a conductor that is gone, a state nothing moves on from.
/// Ironic refuses a reset-state API on purpose; these are the escape hatch, and they say
/// who used them in the node's history.
public struct NodeCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "node", abstract: "Repair stuck nodes in the database.",
        subcommands: [ResetStateCommand.self, ReleaseLockCommand.self])

    public init() {}
}

/// `ironic node reset-state NODE --to STATE`.
public struct ResetStateCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "reset-state",
        abstract: "Set a node's provision state, clearing its targets and its lock.",
        discussion: """
            Only stable states are accepted (e.g. manageable, available, active, deploy failed). \
            Refuses while a live conductor holds the node's lock, unless --force.
            """)

    @OptionGroup public var options: ConfigOptions
    @Argument(help: "Node UUID or name.") public var node: String
    @Option(name: .customLong("to"), help: "The provision state to set.") public var state: String
    @Option(help: "Why, for the node's history.") public var reason: String?
    @Flag(help: "Act even while a live conductor holds the lock.") public var force = false

    public init() {}

    /// States a node may be reset to: the stable ones, and the failure states (from which the
    /// normal verbs — deploy, manage, abort, ... — take it on).
    static var settledStates: Set<ProvisionState> {
        Set(ProvisionState.allCases.filter { ProvisionStateMachine.ironic.targetState(of: $0) == nil || $0.rawValue.hasSuffix(" failed") })
    }

    public func run() async throws {
        guard let target = ProvisionState(rawValue: state), Self.settledStates.contains(target) else {
            let names = ProvisionState.allCases.filter(Self.settledStates.contains).map(\.rawValue)
            throw ValidationError("'\(state)' is not a stable provision state; one of: \(names.joined(separator: ", "))")
        }
        let repair = try await NodeRepair(options: options)
        let node = try await repair.lock(node, force: force)
        var changed = node
        changed.provisionState = target
        changed.targetProvisionState = nil
        changed.targetPowerState = nil
        changed.provisionUpdatedAt = Date()
        let message = "Provision state reset from \"\(node.provisionState.rawValue)\" to \"\(target.rawValue)\" by \(repair.operatorName) with `ironic node reset-state`\(reason.map { ": \($0)" } ?? ".")"
        changed.lastError = message
        try await repair.finish(changed, message: message)
        print(message)
    }
}

/// `ironic node release-lock NODE`.
public struct ReleaseLockCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "release-lock",
        abstract: "Release a node's lock (reservation).",
        discussion: "Refuses while a live conductor holds the lock, unless --force.")

    @OptionGroup public var options: ConfigOptions
    @Argument(help: "Node UUID or name.") public var node: String
    @Flag(help: "Release even a lock a live conductor holds.") public var force = false

    public init() {}

    public func run() async throws {
        let repair = try await NodeRepair(options: options)
        let found = try await repair.find(node)
        guard let holder = found.reservation else {
            print("Node \(found.uuid) is not locked.")
            return
        }
        let node = try await repair.lock(node, force: force)
        let message = "Lock held by \(holder) released by \(repair.operatorName) with `ironic node release-lock`."
        try await repair.finish(node, message: message)
        print(message)
    }
}

/// The shared steps of the node commands: open the store, find the node, take its lock from
/// whoever holds it (if allowed), save and record history.
struct NodeRepair {
    let store: any Store
    let heartbeatTimeout: Duration
    /// `user@host` of whoever runs the command, for history.
    let operatorName: String
    /// The name the command holds the node's lock under while it works.
    let lockName: String

    init(options: ConfigOptions) async throws {
        let config = try options.load()
        store = try ServiceFactory.makeStore(config)
        _ = try await store.upgrade()
        heartbeatTimeout = config.conductor.heartbeatTimeout
        let user = ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
        operatorName = "\(user)@\(ProcessInfo.processInfo.hostName)"
        lockName = "ironic-cli:\(operatorName)"
    }

    func find(_ ident: String) async throws -> Node {
        if UUIDText.isValid(ident) { return try await store.node(uuid: ident.lowercased()) }
        return try await store.node(name: ident)
    }

    /// Takes the node's lock: free → reserved; held by a conductor that is not alive (or with
    /// `force`) → taken over in one conditional update.
    func lock(_ ident: String, force: Bool) async throws -> Node {
        let node = try await find(ident)
        guard let holder = node.reservation else { return try await store.reserveNode(uuid: node.uuid, conductor: lockName) }
        if !force {
            let holderRecord = try? await store.conductor(hostname: holder)
            if let holderRecord, holderRecord.isAlive(timeout: heartbeatTimeout) {
                throw ValidationError(
                    "Node \(node.uuid) is locked by conductor \(holder), which is alive (last heartbeat \(Int(-holderRecord.updatedAt.timeIntervalSinceNow)) s ago) and may still be working on it. Wait, or use --force.")
            }
        }
        return try await store.takeOverReservation(uuid: node.uuid, from: holder, to: lockName)
    }

    /// Saves `node`, releases the command's lock and records `message` in history.
    func finish(_ node: Node, message: String) async throws {
        var node = node
        node.reservation = lockName
        _ = try await store.saveNode(node)
        try await store.releaseNode(uuid: node.uuid, conductor: lockName)
        try await store.recordHistory(
            NodeHistoryEvent(
                nodeUUID: node.uuid, severity: .warning, eventType: .conductor, event: message,
                conductor: ProcessInfo.processInfo.hostName, user: operatorName))
    }
}
