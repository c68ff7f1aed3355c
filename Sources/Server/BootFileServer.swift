import Core
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// The conductor's own web server for network boot: serves `[deploy] http_root` (iPXE
/// scripts, deploy kernels and ramdisks, instance images cached for the agent) at
/// `[deploy] http_server_host` on the port of `[deploy] http_url`.
///
/// Ironic leaves this to an external web server; here it runs in the conductor so the
/// all-in-one service provisions with nothing else installed. An empty `http_server_host`
/// turns it off for sites whose own web server serves `http_root`.
public enum BootFileServer {
    /// The listening address `settings` ask for, or nil when the server is turned off.
    ///
    /// - Throws: `ConfigError`-style `IronicError` when `http_url` has no usable port.
    public static func address(_ settings: DeployConfig) throws(IronicError) -> (host: String, port: Int)? {
        guard !settings.httpServerHost.isEmpty else { return nil }
        guard let url = URL(string: settings.httpURL), let scheme = url.scheme, scheme == "http" || scheme == "https" else {
            throw .invalidParameterValue("[deploy] http_url \(settings.httpURL) is not an http(s) URL.")
        }
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        return (settings.httpServerHost, port)
    }

    /// The server as a service of the process's service group; nil when turned off.
    public static func service(_ settings: DeployConfig, logger: Logger) throws -> (any Service)? {
        guard let (host, port) = try address(settings) else { return nil }
        try FileManager.default.createDirectory(atPath: settings.httpRoot, withIntermediateDirectories: true)
        let router = Router()
        router.add(middleware: FileMiddleware(settings.httpRoot, logger: logger))
        router.get("/") { _, _ in Response(status: .notFound) }
        logger.info("boot file server serves \(settings.httpRoot)", metadata: ["address": "\(host):\(port)"])
        return Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "ironic-boot"),
            logger: logger)
    }
}
