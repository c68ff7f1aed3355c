import ArgumentParser
import Core
import Foundation
import Logging
import Store

/// `--config-file PATH` (repeatable; later files win), as every Ironic executable takes it.
public struct ConfigOptions: ParsableArguments {
    @Option(name: .customLong("config-file"), help: "An ironic.conf file; repeat to layer files (later ones win).")
    public var configFiles: [String] = []

    public init() {}

    /// The configuration from the files, or the defaults without any.
    public func load() throws -> IronicConfig {
        do {
            return try IronicConfig.load(files: configFiles)
        } catch {
            throw ValidationError("configuration error: \(error)")
        }
    }
}

/// Standard logging to stderr, set up once per process.
public enum ProcessLogging {
    /// Installs the stream handler.
    public static func bootstrap() {
        LoggingSystem.bootstrap { label in StreamLogHandler.standardError(label: label) }
    }
}

/// `ironic standalone`: API and conductor in one process.
public struct StandaloneCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "standalone",
        abstract: "Run the API and a conductor in one process (embedded SQLite by default).")

    @OptionGroup public var options: ConfigOptions

    public init() {}

    public func run() async throws {
        ProcessLogging.bootstrap()
        let config = try options.load()
        let server = try await StandaloneServer(config: config)
        Task {
            let port = await server.listeningPort()
            server.logger.info("ironic API listening on http://\(config.api.hostIP):\(port)")
        }
        try await server.run()
    }
}

/// `ironic-dbsync upgrade`.
public struct DBSyncUpgradeCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "upgrade", abstract: "Apply every pending database migration.")

    @OptionGroup public var options: ConfigOptions

    public init() {}

    public func run() async throws {
        let config = try options.load()
        let store = try ServiceFactory.makeStore(config)
        let before = try await store.schemaVersion()
        let after = try await store.upgrade()
        print(before == after ? "Database is up to date at version \(after)." : "Upgraded database from version \(before) to \(after).")
    }
}

/// `ironic-dbsync version`.
public struct DBSyncVersionCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "version", abstract: "Print the database schema version.")

    @OptionGroup public var options: ConfigOptions

    public init() {}

    public func run() async throws {
        let config = try options.load()
        let store = try ServiceFactory.makeStore(config)
        print(try await store.schemaVersion())
    }
}
