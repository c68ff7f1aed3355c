import ArgumentParser
import ConsoleProxy

/// `ironic-ipmiproxy`: the serial console proxy (`serve`, the default) and its `worker`.
@main
struct IronicIPMIProxy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ironic-ipmiproxy",
        abstract: "Serial-over-LAN console proxy: one worker process per console, a REST API for conductors.",
        subcommands: [ProxyServeCommand.self, ProxyWorkerCommand.self],
        defaultSubcommand: ProxyServeCommand.self)
}
