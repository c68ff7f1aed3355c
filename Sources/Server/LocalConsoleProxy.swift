import ConsoleProxy
import ConsoleProxyAPI
import Core
import Foundation
import IPMIHardware
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The console proxy `ironic standalone` runs in its own process, so the all-in-one has
/// working `ipmi-proxy` consoles with no set-up: `[ipmiproxy]` options apply (a missing
/// `auth_token` is generated), workers are `ironic ipmiproxy worker` processes, and the
/// conductor's console interface points at it unless `[ipmi] console_proxy_urls` names others.
struct LocalConsoleProxy {
    let server: ConsoleProxyServer
    let settings: IPMIProxyConsoleSettings

    static func make(_ config: IronicConfig, logger: Logger) throws -> LocalConsoleProxy {
        var ini = config.document
        if ini.value("ipmiproxy", "auth_token") == nil && ini.value("ipmiproxy", "auth_strategy") == nil {
            ini.set("ipmiproxy", "auth_token", ConsoleSupervisorToken.make())
        }
        var proxy = try ProxyConfig(ini: ini)
        if proxy.port == 0 { proxy.port = freePort(host: proxy.hostIP) }
        let server = ConsoleProxyServer(
            config: proxy,
            workerCommand: proxy.workerExecutable.map { [$0, "ipmiproxy", "worker"] }
                ?? ConsoleProxyServer.workerCommand(arguments: ["ipmiproxy", "worker"]),
            logger: logger)
        var settings = try IPMIProxyConsoleSettings(ini: config.document)
        if settings.proxyURLs.isEmpty {
            settings.proxyURLs = [URL(string: "http://\(proxy.hostIP):\(proxy.port)")!]
            switch proxy.authStrategy {
            case .token: settings.credentials = .token(proxy.authToken ?? "")
            case .httpBasic: settings.credentials = .basic(username: proxy.httpBasicUsername ?? "", password: proxy.httpBasicPassword ?? "")
            case .noauth: settings.credentials = .none
            }
        }
        return LocalConsoleProxy(server: server, settings: settings)
    }

    /// A free port below the kernel's ephemeral range (32768+), so an API server asking for port
    /// 0 later can never be handed the same one.
    static func freePort(host: String) -> Int {
        for _ in 0..<200 {
            let candidate = Int.random(in: 22000..<32000)
            if isFree(candidate, host: host) { return candidate }
        }
        return 6387
    }

    static func isFree(_ port: Int, host: String) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

/// Random tokens for the local proxy.
enum ConsoleSupervisorToken {
    static func make() -> String {
        (0..<24).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }
}
