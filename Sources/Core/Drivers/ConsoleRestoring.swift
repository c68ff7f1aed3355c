/// A console interface whose consoles live outside the conductor (a console proxy), so a
/// conductor can check them and start them again: after a conductor restart, a takeover, or
/// a proxy restart.
public protocol ConsoleRestoring: ConsoleInterface {
    /// Whether the node's console is running where the node's record says.
    func isConsoleRunning(_ task: NodeTask) async throws -> Bool
    /// The buffered console output (a documented extension beyond Ironic's API).
    func consoleLog(_ task: NodeTask) async throws -> [UInt8]
}

/// A power interface that may refuse to poll some nodes (BMCs that fail when polled during
/// serial-over-LAN): power sync skips them instead of counting failures.
public protocol PowerPollingPolicy: PowerInterface {
    /// Whether the power state of `node` may be read now.
    func mayPollPower(_ node: Node) -> Bool
}
