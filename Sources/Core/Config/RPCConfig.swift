import Foundation

/// `[DEFAULT] rpc_transport`: how the API reaches conductors.
public enum RPCTransport: String, Sendable, Hashable, CaseIterable {
    /// JSON-RPC 2.0 over HTTP to each conductor's `[json_rpc]` listener.
    case jsonRPC = "json-rpc"
    /// No transport: the API and a conductor share one process (`ironic standalone`).
    case none
}

/// `[json_rpc] auth_strategy`.
public enum JSONRPCAuthStrategy: String, Sendable, Hashable, CaseIterable {
    /// Every request must carry `[json_rpc] username` / `password` as HTTP basic credentials.
    case httpBasic = "http_basic"
    /// No authentication: only for a listener nobody else can reach.
    case noauth
}

/// `[json_rpc]` options: the conductor's listener and the API's client.
public struct JSONRPCConfig: Sendable, Hashable {
    /// `host_ip`: where a conductor listens (default 127.0.0.1; Ironic's is `::`).
    public var hostIP = "127.0.0.1"
    /// `port`: the conductor's JSON-RPC port (default 8089). A conductor on another port
    /// registers as `host:port`, as Ironic's does, so clients find it.
    public var port = 8089
    /// `auth_strategy` (default `http_basic`).
    public var authStrategy: JSONRPCAuthStrategy = .httpBasic
    /// `username` / `password`: the credentials clients send, and that listeners accept
    /// when no `http_basic_auth_user_file` is set.
    public var username: String?
    public var password: String?
    /// `http_basic_auth_user_file`: the htpasswd file (bcrypt entries) listeners check
    /// credentials against, as Ironic's do. Unset: `username`/`password`, or Ironic's default
    /// file `ironicUserFile` when those are unset and it exists.
    public var httpBasicAuthUserFile: String?
    /// Ironic's default `http_basic_auth_user_file`.
    public static let ironicUserFile = "/etc/ironic/htpasswd-json-rpc"
    /// `use_ssl`, `cert_file`, `key_file`: TLS on the listener (PEM files).
    public var useSSL = false
    public var certFile: String?
    public var keyFile: String?
    /// `client_use_ssl`: clients use https even when `use_ssl` is off (TLS terminated elsewhere).
    public var clientUseSSL = false
    /// `cafile`: CA bundle clients trust for the listener's certificate (default: the system's).
    public var cafile: String?
    /// `insecure`: clients skip certificate verification.
    public var insecure = false
    /// `timeout`: how long a client waits for one call (default 120 s, as in Ironic).
    public var timeout: Duration = .seconds(120)

    /// Defaults.
    public init() {}

    /// Whether clients connect with https.
    public var clientScheme: String { useSSL || clientUseSSL ? "https" : "http" }
}

/// Hash ring options from `[DEFAULT]`.
public struct HashRingConfig: Sendable, Hashable {
    /// `hash_partition_exponent`: each conductor gets 2^exponent points on the ring (default 5).
    public var partitionExponent = 5
    /// `hash_ring_reset_interval`: how old a ring may get before the next lookup rebuilds it
    /// from the conductors table (default 15 s; a lookup that finds no live conductor
    /// rebuilds it at once).
    public var resetInterval: Duration = .seconds(15)

    /// Defaults.
    public init() {}
}

extension IronicConfig {
    /// Reads `[DEFAULT] rpc_transport`, the hash ring options and `[json_rpc]`.
    mutating func readRPCOptions(_ reader: OptionReader) throws(ConfigError) {
        if let raw = try reader.string("DEFAULT", "rpc_transport") {
            guard let transport = RPCTransport(rawValue: raw) else {
                throw ConfigError(source: "[DEFAULT] rpc_transport", message: "expected one of \(RPCTransport.allCases.map(\.rawValue)), got '\(raw)'")
            }
            rpcTransport = transport
        }
        hashRing.partitionExponent = try reader.int("DEFAULT", "hash_partition_exponent", range: 0...16) ?? hashRing.partitionExponent
        hashRing.resetInterval = try reader.seconds("DEFAULT", "hash_ring_reset_interval") ?? hashRing.resetInterval
        jsonRPC.hostIP = try reader.string("json_rpc", "host_ip") ?? jsonRPC.hostIP
        jsonRPC.port = try reader.int("json_rpc", "port", range: 1...65535) ?? jsonRPC.port
        if let raw = try reader.string("json_rpc", "auth_strategy") {
            guard let strategy = JSONRPCAuthStrategy(rawValue: raw) else {
                throw ConfigError(
                    source: "[json_rpc] auth_strategy",
                    message: "expected one of \(JSONRPCAuthStrategy.allCases.map(\.rawValue)), got '\(raw)'")
            }
            jsonRPC.authStrategy = strategy
        }
        jsonRPC.username = try reader.string("json_rpc", "username") ?? jsonRPC.username
        jsonRPC.password = try reader.string("json_rpc", "password") ?? jsonRPC.password
        jsonRPC.httpBasicAuthUserFile = try reader.string("json_rpc", "http_basic_auth_user_file") ?? jsonRPC.httpBasicAuthUserFile
        jsonRPC.useSSL = try reader.bool("json_rpc", "use_ssl") ?? jsonRPC.useSSL
        jsonRPC.certFile = try reader.string("json_rpc", "cert_file") ?? jsonRPC.certFile
        jsonRPC.keyFile = try reader.string("json_rpc", "key_file") ?? jsonRPC.keyFile
        jsonRPC.clientUseSSL = try reader.bool("json_rpc", "client_use_ssl") ?? jsonRPC.clientUseSSL
        jsonRPC.cafile = try reader.string("json_rpc", "cafile") ?? jsonRPC.cafile
        jsonRPC.insecure = try reader.bool("json_rpc", "insecure") ?? jsonRPC.insecure
        jsonRPC.timeout = try reader.seconds("json_rpc", "timeout") ?? jsonRPC.timeout
        if jsonRPC.useSSL && (jsonRPC.certFile == nil || jsonRPC.keyFile == nil) {
            throw ConfigError(source: "[json_rpc] use_ssl", message: "use_ssl = true needs cert_file and key_file")
        }
    }

    /// The name this conductor registers and locks nodes under: `[DEFAULT] host`, with
    /// `:port` appended when JSON-RPC listens on a port other than 8089 (as Ironic does), so
    /// that clients know where to call it.
    public var conductorHostname: String {
        guard rpcTransport == .jsonRPC, jsonRPC.port != 8089, !host.contains(":") else { return host }
        return "\(host):\(jsonRPC.port)"
    }
}
