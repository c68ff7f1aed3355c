import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle

/// `ironic-ipmiproxy serve --config-file ironic.conf`.
public struct ProxyServeCommand: AsyncParsableCommand {
    /// Names and help.
    public static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run the proxy: REST API on [ipmiproxy] host_ip:port, consoles on demand.")

    @Option(name: .customLong("config-file"), help: "An ironic.conf file with an [ipmiproxy] section; repeat to layer files.")
    var configFiles: [String] = []

    @Option(help: "Arguments after the executable that start a worker (default: worker, or ipmiproxy worker under ironic).")
    var workerArguments: [String] = []

    /// Creates the command.
    public init() {}

    /// Runs until SIGTERM/SIGINT; stops every console on the way out.
    public func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let config: ProxyConfig
        do { config = try ProxyConfig.load(files: configFiles) } catch {
            throw ValidationError("configuration error: \(error)")
        }
        let logger = Logger(label: "ironic-ipmiproxy")
        let server = ConsoleProxyServer(
            config: config,
            workerCommand: ConsoleProxyServer.workerCommand(
                arguments: !workerArguments.isEmpty
                    ? workerArguments : (CommandLine.arguments.dropFirst().first == "ipmiproxy" ? ["ipmiproxy", "worker"] : ["worker"])),
            logger: logger)
        Task {
            let port = await server.listeningPort()
            logger.info("ironic-ipmiproxy listening on http://\(config.hostIP):\(port)")
        }
        let group = ServiceGroup(
            configuration: .init(services: server.services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// `ironic-ipmiproxy worker`: one console's worker (started by the daemon, spec on stdin).
public struct ProxyWorkerCommand: AsyncParsableCommand {
    /// Names and help.
    public static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Serve one console (started by the proxy; reads its spec from stdin).", shouldDisplay: false)

    /// Creates the command.
    public init() {}

    /// Never returns: the worker exits with its status.
    public func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        await ConsoleWorker.main(logger: Logger(label: "ironic-ipmiproxy.worker"))
    }
}

/// `ironic ipmiproxy serve|worker`: the proxy inside the all-in-one `ironic` executable.
public struct IPMIProxyGroupCommand: AsyncParsableCommand {
    /// Names and help.
    public static let configuration = CommandConfiguration(
        commandName: "ipmiproxy", abstract: "The serial console proxy (as ironic-ipmiproxy).",
        subcommands: [ProxyServeCommand.self, ProxyWorkerCommand.self])

    /// Creates the command.
    public init() {}
}
