import Core
import Foundation
import Logging
import RPC
import ServiceLifecycle

extension Conductor {
    /// One pass of console reconciliation: every node this conductor owns on the hash ring that should have
    /// a console (`console_enabled`) and whose console interface keeps consoles elsewhere (a
    /// console proxy) is checked, and its console started again when it is gone: after this
    /// conductor restarted, took nodes over, or a proxy restarted. A console that moved to other
    /// ports is started again too, which records where it now is. Failures go to the node's
    /// history and `last_error`; the node stays `console_enabled` so the next pass retries.
    ///
    /// - Returns: consoles restored or re-recorded.
    @discardableResult
    public func reconcileConsoles() async -> Int {
        guard let nodes = try? await managedNodes() else { return 0 }
        var restored = 0
        for node in nodes where node.consoleEnabled && node.reservation == nil {
            guard let console = (try? registry.driver(for: node))?.console as? any ConsoleRestoring
            else { continue }
            let reader = NodeTask(node: node, conductor: hostname, isShared: true, logger: logger)
            let state: ExternalConsoleState
            do { state = try await console.consoleState(reader) } catch {
                logger.warning("console check failed: \(Self.describe(error))", metadata: ["node": "\(node.uuid)"])
                continue
            }
            guard state != .running else { continue }
            do {
                try await withExclusiveLock(node.uuid, purpose: "restoring the console") { task in
                    guard task.node.consoleEnabled else { return }
                    do {
                        try await console.startConsole(task)
                        task.updateNode { $0.lastError = nil }
                        restored += 1
                        let event =
                            if case .moved(let endpoint) = state {
                                "Console moved to \(endpoint) on its proxy (its port was taken); console_info updated."
                            } else {
                                "Console restored on its proxy (it was not running)."
                            }
                        await recordHistory(task.node, .info, .console, event)
                    } catch {
                        let message = "Failed to restore console for node \(task.node.uuid): \(Self.describe(error))"
                        task.updateNode { $0.lastError = message }
                        await recordHistory(task.node, .error, .console, message)
                    }
                }
            } catch {
                logger.debug("console restore skipped: \(Self.describe(error))", metadata: ["node": "\(node.uuid)"])
            }
        }
        return restored
    }

    /// The other half of reconciliation: consoles a proxy runs that no node wants. They are
    /// left behind when stopping a console timed out (the conductor records the console as
    /// stopped; the proxy goes on holding the BMC's only serial-over-LAN session), or when the
    /// proxy was unreachable while a node was deleted. A console is stopped when its node is
    /// gone, or when the node, checked again under its lock, has its console disabled or
    /// records another console; each stop of a node's console goes to the node's history.
    /// Nodes are handled by their owner on the hash ring; consoles of deleted nodes by anyone.
    ///
    /// - Returns: consoles stopped.
    @discardableResult
    public func stopUnwantedConsoles() async -> Int {
        guard liveness.acceptsWork, let snapshot = try? await ring.snapshot() else { return 0 }
        var stopped = 0
        for case let interface as any ConsoleRestoring in registry.enabledImplementations(of: .console) {
            for console in await interface.runningConsoles(logger: logger) {
                let node: Node?
                do { node = try await store.node(uuid: console.nodeUUID) } catch let error as IronicError where error.status == 404 {
                    node = nil
                } catch {
                    continue  // The database will answer next time.
                }
                guard let node else {
                    if await stopConsoleOfDeletedNode(console, interface) { stopped += 1 }
                    continue
                }
                guard snapshot.owner(of: node) == hostname, node.reservation == nil, !interface.isWanted(console, by: node) else { continue }
                do {
                    try await withExclusiveLock(node.uuid, purpose: "stopping a console no node wants") { task in
                        guard !interface.isWanted(console, by: task.node) else { return }
                        try await interface.stop(console)
                        stopped += 1
                        let why = task.node.consoleEnabled ? "the node records another console" : "the node's console is disabled"
                        await recordHistory(
                            task.node, .warning, .console, "Stopped console \(console.id) on \(console.location): \(why).")
                    }
                } catch {
                    logger.warning("could not stop an unwanted console: \(Self.describe(error))", metadata: ["node": "\(node.uuid)"])
                }
            }
        }
        return stopped
    }

    private func stopConsoleOfDeletedNode(_ console: ExternalConsole, _ interface: any ConsoleRestoring) async -> Bool {
        let metadata: Logger.Metadata = ["node": "\(console.nodeUUID)", "console": "\(console.id)", "proxy": "\(console.location)"]
        do { try await interface.stop(console) } catch {
            logger.warning("could not stop the console of a deleted node: \(Self.describe(error))", metadata: metadata)
            return false
        }
        logger.warning("stopped the console of a node that no longer exists", metadata: metadata)
        return true
    }

    /// The node's buffered console output (`GET /v1/nodes/{node}/console/log`, an extension
    /// beyond Ironic's API).
    ///
    /// - Throws: 400 `NodeConsoleNotEnabled`, 400 `UnsupportedDriverExtension` when the console
    ///   interface keeps no log.
    public func consoleLog(_ request: NodeRequest) async throws -> ConsoleLog {
        let task = try await tasks.shared(request.nodeUUID)
        let console = try tasks.driver(for: task).require(.console, as: (any ConsoleInterface).self)
        guard let restoring = console as? any ConsoleRestoring else {
            throw IronicError(
                status: 400, code: "UnsupportedDriverExtension",
                message: "The console interface \"\(console.name)\" of node \(task.node.uuid) keeps no console log.")
        }
        guard task.node.consoleEnabled else {
            throw IronicError(status: 400, code: "NodeConsoleNotEnabled", message: "Console access is not enabled on node \(task.node.uuid)")
        }
        return ConsoleLog(bytes: Data(try await restoring.consoleLog(task)))
    }
}

/// Runs `Conductor.reconcileConsoles` and `Conductor.stopUnwantedConsoles` every `interval`
/// until shutdown.
public struct ConsoleReconcileService: Service {
    let conductor: Conductor
    let interval: Duration

    /// Creates the service.
    public init(conductor: Conductor, interval: Duration = .seconds(30)) {
        self.conductor = conductor
        self.interval = interval
    }

    public func run() async throws {
        guard interval > .zero else {
            try? await gracefulShutdown()
            return
        }
        try? await cancelWhenGracefulShutdown {
            // First pass at start: a restarted conductor restores consoles at once.
            while !Task.isCancelled {
                await conductor.reconcileConsoles()
                await conductor.stopUnwantedConsoles()
                try? await Task.sleep(for: interval)
            }
        }
    }
}
