import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The `ironic-ipmiproxy` daemon: REST API plus the console supervisor, as services for one
/// `ServiceGroup`. When the group shuts down, every console's worker is stopped.
///
/// ```swift
/// let proxy = ConsoleProxyServer(config: config, workerCommand: [executable, "worker"], logger: logger)
/// try await ServiceGroup(services: proxy.services, gracefulShutdownSignals: [.sigterm], logger: logger).run()
/// ```
public final class ConsoleProxyServer: Sendable {
    /// The configuration.
    public let config: ProxyConfig
    /// The consoles.
    public let supervisor: ConsoleSupervisor
    private let application: Application<RouterResponder<BasicRequestContext>>
    private let listening = AsyncStream<Int>.makeStream()

    /// Builds the daemon; nothing listens until its services run.
    public init(config: ProxyConfig, workerCommand: [String], logger: Logger) {
        self.config = config
        let supervisor = ConsoleSupervisor(
            config: config, workerCommand: workerCommand, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        self.supervisor = supervisor
        let continuation = listening.continuation
        application = Application(
            router: ProxyAPI.router(supervisor: supervisor, config: config),
            configuration: .init(address: .hostname(config.hostIP, port: config.port), serverName: "ironic-ipmiproxy"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? config.port
                supervisor.apiPort.withLock { $0 = port }
                continuation.yield(port)
            },
            logger: logger)
    }

    /// The REST API and the supervisor's shutdown hook, to run in a `ServiceGroup`.
    public var services: [any Service] { [application, SupervisorShutdown(supervisor: supervisor)] }

    /// The REST API's port, once it listens.
    public func listeningPort() async -> Int {
        let known = supervisor.apiPort.withLock { $0 }
        if known != 0 { return known }
        for await port in listening.stream { return port }
        return 0
    }

    /// The command that starts a worker of the running executable: itself with `arguments`.
    public static func workerCommand(arguments: [String]) -> [String] {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return [executable] + arguments
    }
}

/// Waits for the group's graceful shutdown, then stops every console.
struct SupervisorShutdown: Service {
    let supervisor: ConsoleSupervisor

    func run() async throws {
        try? await gracefulShutdown()
        await supervisor.stopAll()
    }
}
