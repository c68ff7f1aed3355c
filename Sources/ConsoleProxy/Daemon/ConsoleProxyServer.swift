import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

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
    private let listening = PortAnnouncement()

    /// Builds the daemon; nothing listens until its services run.
    public init(config: ProxyConfig, workerCommand: [String], logger: Logger) {
        self.config = config
        let supervisor = ConsoleSupervisor(
            config: config, workerCommand: workerCommand, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        self.supervisor = supervisor
        let listening = self.listening
        application = Application(
            router: ProxyAPI.router(supervisor: supervisor, config: config),
            configuration: .init(address: .hostname(config.hostIP, port: config.port), serverName: "ironic-ipmiproxy"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? config.port
                supervisor.apiPort.withLock { $0 = port }
                listening.announce(port)
            },
            logger: logger)
    }

    /// The REST API and the supervisor's shutdown hook, to run in a `ServiceGroup`.
    public var services: [any Service] { [application, SupervisorShutdown(supervisor: supervisor)] }

    /// The REST API's port, once it listens (any number of callers may wait).
    public func listeningPort() async -> Int { await listening.port() }

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

/// A port announced once, to any number of waiters.
final class PortAnnouncement: Sendable {
    private let state = Mutex<(port: Int?, waiters: [CheckedContinuation<Int, Never>])>((nil, []))

    /// Resumes every waiter, now and later, with `port`.
    func announce(_ port: Int) {
        let waiters = state.withLock { state in
            state.port = port
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: port) }
    }

    /// The port, once announced.
    func port() async -> Int {
        await withCheckedContinuation { waiter in
            let known = state.withLock { state in
                if state.port == nil { state.waiters.append(waiter) }
                return state.port
            }
            if let known { waiter.resume(returning: known) }
        }
    }
}
