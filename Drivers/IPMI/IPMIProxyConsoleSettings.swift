import ConsoleProxyAPI
import Core
import Foundation

/// Where the ipmi-proxy console interface finds `ironic-ipmiproxy` daemons, from `[ipmi]`:
///
/// - `console_proxy_urls`: comma-separated base URLs (`http://10.0.0.2:6387,...`); consoles are
///   spread over them by node UUID, and move to a node's next proxy when its own stops answering.
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

    /// The proxies to start `nodeUUID`'s console on, best first: `current` (the proxy its
    /// console last ran on) while it is still configured, so the console keeps its endpoints;
    /// then every configured proxy in the node's own order (rendezvous hashing: consoles spread
    /// evenly, and when a proxy stops answering only its consoles move, each to its next choice).
    func placementOrder(for nodeUUID: String, current: URL? = nil) async -> [URL] {
        guard proxyURLs.count > 1 else { return await allProxies() }
        let node = nodeUUID.lowercased()
        let ranked = proxyURLs.sorted { Self.weight(node, $0) > Self.weight(node, $1) }
        guard let current, let index = ranked.firstIndex(of: current) else { return ranked }
        return [ranked[index]] + ranked.enumerated().filter { $0.offset != index }.map(\.element)
    }

    /// Every proxy consoles may run on: the configured ones, else the local proxy.
    func allProxies() async -> [URL] {
        if proxyURLs.isEmpty, let localProxy { return [await localProxy()] }
        return proxyURLs
    }

    /// Whether a console could move to another proxy when its own stops answering.
    var hasAlternatives: Bool { proxyURLs.count > 1 }

    /// FNV-1a over the node UUID and the proxy URL, then MurmurHash3's finaliser so that the
    /// last bytes (where proxy URLs differ) move every bit.
    private static func weight(_ node: String, _ proxy: URL) -> UInt64 {
        var hash: UInt64 = 14_695_981_039_346_656_037
        for byte in "\(node)|\(proxy.absoluteString)".utf8 {
            hash = (hash ^ UInt64(byte)) &* 1_099_511_628_211
        }
        hash = (hash ^ (hash >> 33)) &* 0xff51_afd7_ed55_8ccd
        hash = (hash ^ (hash >> 33)) &* 0xc4ce_b9fe_1a85_ec53
        return hash ^ (hash >> 33)
    }
}
