import ArgumentParser
import ConsoleProxy
import Server

/// `ironic`: the all-in-one service and admin commands.
@main
struct Ironic: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ironic",
        abstract: "swift-ironic: bare-metal provisioning, wire-compatible with OpenStack Ironic.",
        subcommands: [StandaloneCommand.self, LabCommand.self, NodeCommand.self, IPMIProxyGroupCommand.self])
}

