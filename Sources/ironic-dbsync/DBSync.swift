import ArgumentParser
import Server

/// `ironic-dbsync`: database schema management.
@main
struct DBSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ironic-dbsync", abstract: "Manage the database schema.",
        subcommands: [DBSyncUpgradeCommand.self, DBSyncVersionCommand.self])
}

