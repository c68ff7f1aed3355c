import API
import Conductor
import Core
import Foundation
import HardwareTypes
import IPMIHardware
import Hummingbird
import Logging
import RPC
import ServiceLifecycle
import Store

/// Builds the parts every executable runs from one configuration.
public enum ServiceFactory {
    /// The store `[database] connection` names.
    public static func makeStore(_ config: IronicConfig) throws -> any Store {
        try StoreSelection.makeStore(connection: config.database.connection)
    }

    /// The enabled hardware types and interfaces.
    public static func makeRegistry(_ config: IronicConfig, console: IPMIProxyConsoleSettings? = nil) throws -> DriverRegistry {
        try ShippedHardware.registry(
            config: config.drivers, ipmi: config.ipmi, conductor: config.conductor, fake: config.fake,
            logger: makeLogger("ironic.ipmi", config),
            console: try console ?? IPMIProxyConsoleSettings(ini: config.document), deploy: config.deploy, ansible: config.ansible)
    }

    /// A logger at the level `[DEFAULT] debug` asks for.
    public static func makeLogger(_ label: String, _ config: IronicConfig) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = config.debug ? .debug : .info
        return logger
    }
}

/// API and conductor in one process over one store: what `ironic standalone` runs.
public final class StandaloneServer: Sendable {
    public let config: IronicConfig
    public let store: any Store
    public let conductor: Conductor
    let conductorService: ConductorService
    let application: Application<IronicAPI>
    let logger: Logger
    private let listening = AsyncStream<Int>.makeStream()
    private let group: ServiceGroup

    /// Prepares the service: opens and migrates the store, composes the drivers.
    public init(config: IronicConfig, logger: Logger? = nil) async throws {
        self.config = config
        let logger = logger ?? ServiceFactory.makeLogger("ironic", config)
        self.logger = logger
        let store = try ServiceFactory.makeStore(config)
        let version = try await store.upgrade()
        logger.info("database schema at version \(version)")
        self.store = store
        let consoleProxy = try LocalConsoleProxy.make(config, logger: logger)
        let registry = try ServiceFactory.makeRegistry(config, console: consoleProxy.settings)
        let conductor = Conductor(
            hostname: config.host, store: store, registry: registry, config: config.conductor, hashRing: config.hashRing, deploy: config.deploy,
            logger: logger)
        self.conductor = conductor
        self.conductorService = ConductorService(conductor: conductor, config: config.conductor)
        let api = IronicAPI(
            store: store, conductor: conductor, registry: registry, config: config.api,
            heartbeatTimeout: config.conductor.heartbeatTimeout, ring: conductor.ring, logger: logger)
        let continuation = listening.continuation
        self.application = Application(
            responder: api,
            configuration: .init(address: .hostname(config.api.hostIP, port: config.api.port), serverName: "ironic"),
            onServerRunning: { channel in
                continuation.yield(channel.localAddress?.port ?? 0)
            },
            logger: logger)
        self.group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: HeartbeatOnly(service: conductorService)),
                    .init(service: PeriodicTasksService(conductor: conductor)),
                    .init(service: application),
                    .init(service: ConsoleReconcileService(conductor: conductor, interval: config.conductor.consoleReconcileInterval)),
                ] + consoleProxy.services.map { .init(service: $0) }
                    + (try BootFileServer.service(config.deploy, logger: logger)).map { [.init(service: $0)] }.orEmpty,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
    }

    /// Runs until SIGTERM/SIGINT or `shutdown()`; on the way out the API stops first, then the
    /// conductor drains its work and releases its locks.
    public func run() async throws {
        try await conductorService.start()
        try await group.run()
    }

    /// Starts the same graceful shutdown SIGTERM does.
    public func shutdown() async {
        await group.triggerGracefulShutdown()
    }

    /// The port the API listens on, once it does.
    public func listeningPort() async -> Int {
        for await port in listening.stream { return port }
        return 0
    }
}

extension Optional where Wrapped: Collection, Wrapped: ExpressibleByArrayLiteral {
    /// The array, or an empty one.
    var orEmpty: Wrapped { self ?? [] }
}

/// The conductor service after `start()` was already called: heartbeats until shutdown, then stops.
struct HeartbeatOnly: Service {
    let service: ConductorService
    func run() async throws { try await service.runHeartbeatsThenStop() }
}
