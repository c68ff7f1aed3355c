import Logging

/// A console interface whose consoles live outside the conductor (a console proxy), so a
/// conductor can compare what should run with what does: start a node's console again after
/// a conductor restart, a takeover or a proxy restart, and stop consoles no node wants (left
/// behind when stopping one failed half-way, or when its node was deleted meanwhile).
public protocol ConsoleRestoring: ConsoleInterface {
    /// Whether the node's console runs, and where the node's record says.
    func consoleState(_ task: NodeTask) async throws -> ExternalConsoleState
    /// The buffered console output (a documented extension beyond Ironic's API).
    func consoleLog(_ task: NodeTask) async throws -> [UInt8]
    /// Every console the interface's proxies run now. A proxy that does not answer is logged
    /// and left out.
    func runningConsoles(logger: Logger) async -> [ExternalConsole]
    /// Whether `console` is the one `node` has enabled and records as its own.
    func isWanted(_ console: ExternalConsole, by node: Node) -> Bool
    /// Stops `console` where it runs (one already gone is fine).
    func stop(_ console: ExternalConsole) async throws
}

/// Where a node's console stands on its proxy.
public enum ExternalConsoleState: Sendable, Hashable {
    /// Running on the endpoints the node records.
    case running
    /// Running, but on other endpoints (another process took its port while it restarted):
    /// starting it again records where it is, so `console_info` is right again.
    case moved(String)
    /// Not running (gone, e.g. after a proxy restart, or given up in an error state).
    case notRunning
}

/// A console running outside the conductor, as its proxy lists it.
public struct ExternalConsole: Sendable, Hashable {
    /// The node the console was started for.
    public var nodeUUID: String
    /// The console's id on its proxy.
    public var id: String
    /// Where it runs: the proxy's URL.
    public var location: String

    /// Creates a description.
    public init(nodeUUID: String, id: String, location: String) {
        self.nodeUUID = nodeUUID
        self.id = id
        self.location = location
    }
}

/// A power interface that may refuse to poll some nodes (BMCs that fail when polled during
/// serial-over-LAN): power sync skips them instead of counting failures.
public protocol PowerPollingPolicy: PowerInterface {
    /// Whether the power state of `node` may be read now.
    func mayPollPower(_ node: Node) -> Bool
}
