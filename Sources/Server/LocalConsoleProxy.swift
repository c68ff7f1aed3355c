import ConsoleProxy
import ConsoleProxyAPI
import Core
import Foundation
import IPMIHardware
import Logging
import ServiceLifecycle

/// The console proxy `ironic standalone` runs in its own process, so the all-in-one has
/// working `ipmi-proxy` consoles with no set-up: `[ipmiproxy]` options apply (a missing
/// `auth_token` is generated), workers are `ironic ipmiproxy worker` processes, and the
/// conductor's console interface points at it. When `[ipmi] console_proxy_urls` names proxies,
/// no local proxy runs and consoles go to those.
struct LocalConsoleProxy {
    /// The local proxy; nil when `[ipmi] console_proxy_urls` names proxies elsewhere.
    let server: ConsoleProxyServer?
    /// What the conductor's console interface uses: the local proxy or the configured ones.
    let settings: IPMIProxyConsoleSettings

    /// The services to run beside the API and conductor (none without a local proxy).
    var services: [any Service] { server?.services ?? [] }

    static func make(_ config: IronicConfig, logger: Logger) throws -> LocalConsoleProxy {
        var settings = try IPMIProxyConsoleSettings(ini: config.document)
        guard settings.proxyURLs.isEmpty else { return LocalConsoleProxy(server: nil, settings: settings) }
        var ini = config.document
        if ini.value("ipmiproxy", "auth_token") == nil && ini.value("ipmiproxy", "auth_strategy") == nil {
            ini.set("ipmiproxy", "auth_token", ConsoleSupervisorToken.make())
        }
        let proxy = try ProxyConfig(ini: ini)
        let server = ConsoleProxyServer(
            config: proxy,
            workerCommand: proxy.workerExecutable.map { [$0, "ipmiproxy", "worker"] }
                ?? ConsoleProxyServer.workerCommand(arguments: ["ipmiproxy", "worker"]),
            logger: logger)
        if proxy.port == 0 {
            // A free port chosen by the kernel as the proxy binds: known once it listens.
            settings.localProxy = { [server, host = proxy.hostIP] in
                URL(string: "http://\(host):\(await server.listeningPort())")!
            }
        } else {
            settings.proxyURLs = [URL(string: "http://\(proxy.hostIP):\(proxy.port)")!]
        }
        switch proxy.authStrategy {
        case .token: settings.credentials = .token(proxy.authToken ?? "")
        case .httpBasic: settings.credentials = .basic(username: proxy.httpBasicUsername ?? "", password: proxy.httpBasicPassword ?? "")
        case .noauth: settings.credentials = .none
        }
        return LocalConsoleProxy(server: server, settings: settings)
    }
}

/// Random tokens for the local proxy.
enum ConsoleSupervisorToken {
    static func make() -> String {
        (0..<24).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }
}
