import ConsoleProxyAPI
import Core
import Foundation

/// Where the ipmi-proxy console interface finds `ironic-ipmiproxy` daemons, from `[ipmi]`:
///
/// - `console_proxy_urls`: comma-separated base URLs (`http://10.0.0.2:6387,...`); consoles are
///   spread over them by node UUID, so each node's console has one home.
/// - `console_proxy_auth_token`, or `console_proxy_username` + `console_proxy_password`.
public struct IPMIProxyConsoleSettings: Sendable {
    /// The proxies, in configuration order.
    public var proxyURLs: [URL]
    /// Credentials sent to every proxy.
    public var credentials: ProxyCredentials
    /// The one proxy to use when `proxyURLs` is empty and its address is only known once it
    /// listens: the local proxy `ironic standalone` runs, when its `[ipmiproxy] port` is 0.
    public var localProxy: (@Sendable () async -> URL)?

    /// Creates settings; no proxies means console start fails with a clear message.
    public init(proxyURLs: [URL] = [], credentials: ProxyCredentials = .none, localProxy: (@Sendable () async -> URL)? = nil) {
        self.proxyURLs = proxyURLs
        self.credentials = credentials
        self.localProxy = localProxy
    }

    /// Whether any proxy is configured.
    var hasProxy: Bool { !proxyURLs.isEmpty || localProxy != nil }

    /// Reads `[ipmi] console_proxy_*`.
    public init(ini: INIFile) throws(ConfigError) {
        var urls: [URL] = []
        for raw in (ini.value("ipmi", "console_proxy_urls") ?? "").split(separator: ",") {
            let text = raw.trimmingCharacters(in: .whitespaces)
            guard let url = URL(string: text), url.scheme == "http" || url.scheme == "https", url.host != nil else {
                throw ConfigError(source: "[ipmi] console_proxy_urls", message: "'\(text)' is not an http(s) URL")
            }
            urls.append(url)
        }
        var credentials = ProxyCredentials.none
        if let token = ini.value("ipmi", "console_proxy_auth_token"), !token.isEmpty {
            credentials = .token(token)
        } else if let user = ini.value("ipmi", "console_proxy_username"), let password = ini.value("ipmi", "console_proxy_password") {
            credentials = .basic(username: user, password: password)
        }
        self.init(proxyURLs: urls, credentials: credentials)
    }

    /// The proxy that is home to `nodeUUID` (a stable spread over the configured proxies).
    func home(of nodeUUID: String) async -> URL? {
        guard !proxyURLs.isEmpty else { return await localProxy?() }
        var hash: UInt64 = 14_695_981_039_346_656_037
        for byte in nodeUUID.lowercased().utf8 {
            hash = (hash ^ UInt64(byte)) &* 1_099_511_628_211
        }
        return proxyURLs[Int(hash % UInt64(proxyURLs.count))]
    }
}
