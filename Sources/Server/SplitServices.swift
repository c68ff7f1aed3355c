import API
import ArgumentParser
import Conductor
import Core
import Foundation
import Hummingbird
import Logging
import RPC
import ServiceLifecycle
import Store

/// `ironic-conductor`: a conductor process. It registers as `[DEFAULT] host` (with
/// `:port` when its JSON-RPC port is not 8089), repairs what a previous run of the same host
/// left locked, heartbeats, serves JSON-RPC calls from API processes, takes over the nodes of
/// conductors that die, and on SIGTERM drains, releases its locks and unregisters.
public struct ConductorCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "ironic-conductor", abstract: "Run a conductor.")

    @OptionGroup public var options: ConfigOptions

    public init() {}

    public func run() async throws {
        ProcessLogging.bootstrap()
        let config = try options.load()
        guard config.rpcTransport == .jsonRPC else {
            throw ConfigError(
                source: "[DEFAULT] rpc_transport",
                message: "ironic-conductor serves the API over json-rpc; with rpc_transport = none run `ironic standalone` instead")
        }
        let logger = ServiceFactory.makeLogger("ironic-conductor", config)
        let store = try ServiceFactory.makeStore(config)
        _ = try await store.upgrade()
        let registry = try ServiceFactory.makeRegistry(config)
        let conductor = Conductor(
            hostname: config.conductorHostname, store: store, registry: registry, config: config.conductor,
            hashRing: config.hashRing, deploy: config.deploy, logger: logger)
        let listener = try ServiceFactory.makeJSONRPCListener(conductor: conductor, config: config, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: ConductorService(conductor: conductor, config: config.conductor)),
                    .init(service: PeriodicTasksService(conductor: conductor)),
                    .init(service: ConsoleReconcileService(conductor: conductor, interval: config.conductor.consoleReconcileInterval)),
                    .init(service: listener),
                ] + (try BootFileServer.service(config.deploy, logger: logger)).map { [.init(service: $0)] }.orEmpty,
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// `ironic-api`: the API process on its own. Reads come from the database; every change goes
/// to the conductor the hash ring maps the node to, over JSON-RPC.
public struct APICommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "ironic-api", abstract: "Run the REST API.")

    @OptionGroup public var options: ConfigOptions

    public init() {}

    public func run() async throws {
        ProcessLogging.bootstrap()
        let config = try options.load()
        let logger = ServiceFactory.makeLogger("ironic-api", config)
        let store = try ServiceFactory.makeStore(config)
        let registry = try ServiceFactory.makeRegistry(config)
        let ring = ConductorRing(store: store, heartbeatTimeout: config.conductor.heartbeatTimeout, config: config.hashRing)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        let conductor: any ConductorAPI
        switch config.rpcTransport {
        case .jsonRPC:
            let transport = try JSONRPCTransport(config: config.jsonRPC, logger: logger)
            services.append(.init(service: transport))
            conductor = ConductorRouter(store: store, ring: ring, transport: transport)
        case .none:
            conductor = UnreachableConductor()
        }
        let api = IronicAPI(
            store: store, conductor: conductor, registry: registry, config: config.api,
            heartbeatTimeout: config.conductor.heartbeatTimeout, ring: ring, logger: logger)
        let app = Application(
            responder: api, configuration: .init(address: .hostname(config.api.hostIP, port: config.api.port), serverName: "ironic-api"),
            logger: logger)
        // Services stop in reverse order: the API first, then the transport's connections.
        services.append(.init(service: app))
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
