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

/// `ironic-conductor`: a conductor process. It registers, recovers what a previous run of the
/// same host left locked, heartbeats, and on SIGTERM drains and releases its locks.
///
/// It serves API requests once an RPC transport connects API and conductor processes; until
/// then `ironic standalone` is the way to run both.
public struct ConductorCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "ironic-conductor", abstract: "Run a conductor.")

    @OptionGroup public var options: ConfigOptions

    public init() {}

    public func run() async throws {
        ProcessLogging.bootstrap()
        let config = try options.load()
        let logger = ServiceFactory.makeLogger("ironic-conductor", config)
        let store = try ServiceFactory.makeStore(config)
        _ = try await store.upgrade()
        let registry = try ServiceFactory.makeRegistry(config)
        let conductor = Conductor(hostname: config.host, store: store, registry: registry, config: config.conductor, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: ConductorService(conductor: conductor, config: config.conductor)),
                    .init(service: PeriodicTasksService(conductor: conductor)),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// `ironic-api`: the API process on its own. It serves every read from the database; requests
/// that need a conductor answer 503 until an RPC transport to conductor processes is configured.
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
        let api = IronicAPI(
            store: store, conductor: UnreachableConductor(), registry: registry, config: config.api,
            heartbeatTimeout: config.conductor.heartbeatTimeout, logger: logger)
        let app = Application(
            responder: api, configuration: .init(address: .hostname(config.api.hostIP, port: config.api.port), serverName: "ironic-api"),
            logger: logger)
        try await app.runService()
    }
}
