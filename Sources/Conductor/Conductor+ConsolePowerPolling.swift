import Core
import RPC
import Synchronization

/// Nodes whose power polling a console suspends (`ipmi_poll_during_console = false`) and for
/// which this conductor already wrote that into node history: one entry per console session,
/// not one per power-sync pass.
final class SuspendedPowerPolling: Sendable {
    private let nodes = Mutex<Set<String>>([])

    /// Marks the node; true only the first time since the last `resume`.
    func suspend(_ uuid: String) -> Bool { nodes.withLock { $0.insert(uuid).inserted } }

    /// Forgets the node: polling is allowed again (console disabled, or the option changed).
    func resume(_ uuid: String) { _ = nodes.withLock { $0.remove(uuid) } }
}

extension Conductor {
    /// Whether the node's power interface refuses to poll it now (a console session on a BMC
    /// that must not be polled during serial-over-LAN).
    func powerPollingSuspended(_ node: Node) -> Bool {
        guard let power = (try? registry.driver(for: node))?.power as? any PowerPollingPolicy else { return false }
        return !power.mayPollPower(node)
    }

    /// Records, once per console session, that power sync leaves the node alone; called when
    /// the console is enabled and by power sync (which covers consoles enabled before this
    /// conductor started, and `driver_info` changed during a session).
    func notePowerPollingSuspended(_ node: Node) async {
        guard pollingSuspended.suspend(node.uuid) else { return }
        await recordHistory(
            node, .info, .console,
            "Power state sync skips this node while its console is enabled (driver_info ipmi_poll_during_console = false); "
                + "power actions answer 409 until the console is disabled.")
    }

    /// Keeps the once-per-session record in step: polling is allowed again.
    func notePowerPollingAllowed(_ node: Node) {
        pollingSuspended.resume(node.uuid)
    }

    /// Records a power action refused because the console suspends polling (one entry per
    /// refused request: it is an operator's action, recorded like other failed power actions).
    func notePowerActionRefused(_ node: Node, target: PowerState, context: RequestContext) async {
        await recordHistory(
            node, .warning, .console,
            "Power action '\(target.rawValue)' refused: the console is enabled and driver_info ipmi_poll_during_console = false, "
                + "so the BMC is not touched during serial-over-LAN. Disable the console first.",
            context: context)
    }
}
