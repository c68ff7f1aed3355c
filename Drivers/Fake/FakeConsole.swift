import Core

/// `fake` console: no serial line; starting and stopping only flip the node's console flag.
public struct FakeConsole: ConsoleInterface {
    /// `fake`.
    public var name: String { "fake" }

    /// Creates the implementation.
    public init() {}

    /// Marks the console enabled.
    public func startConsole(_ task: NodeTask) async throws {
        task.updateNode { $0.consoleEnabled = true }
    }

    /// Marks the console disabled.
    public func stopConsole(_ task: NodeTask) async throws {
        task.updateNode { $0.consoleEnabled = false }
    }

    /// Type `fake`, URL `fake://<node uuid>`.
    ///
    /// Ironic's fake answers an empty object; `ConsoleInfo` cannot be empty, so this names a
    /// URL no client can open but every client can display.
    public func consoleInfo(_ task: NodeTask) async throws -> ConsoleInfo {
        ConsoleInfo(type: "fake", url: "fake://\(task.node.uuid)")
    }
}
