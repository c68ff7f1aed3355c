import Core
import Foundation

/// `[ipmiproxy]`: the console proxy daemon's options, read from the same `ironic.conf`-style
/// files as every other service. Every option has a documented default.
public struct ProxyConfig: Sendable, Hashable {
    /// How conductors authenticate to the REST API.
    public enum AuthStrategy: String, Sendable, Hashable {
        /// `X-Auth-Token: <auth_token>` (or `Authorization: Bearer <auth_token>`).
        case token
        /// `Authorization: Basic` with `http_basic_username` / `http_basic_password`.
        case httpBasic = "http_basic"
        /// No authentication: only for a proxy reachable from loopback alone.
        case noauth
    }

    /// `host_ip`: address of the REST API (default 127.0.0.1).
    public var hostIP = "127.0.0.1"
    /// `port`: REST API port (default 6387; 0 picks a free one).
    public var port = 6387
    /// `console_host_ip`: address the per-console endpoints listen on (default: `host_ip`).
    public var consoleHostIP: String?
    /// `public_host`: host name put in endpoint URLs (default: `console_host_ip`).
    public var publicHost: String?
    /// `port_range`: `low:high` ports for console endpoints, two per console (default 10000:20000).
    public var portRange: ClosedRange<Int> = 10000...20000
    /// `auth_strategy`: `token` (default), `http_basic` or `noauth`.
    public var authStrategy: AuthStrategy = .token
    /// `auth_token`: the shared token for `auth_strategy = token`.
    public var authToken: String?
    /// `http_basic_username`.
    public var httpBasicUsername: String?
    /// `http_basic_password`.
    public var httpBasicPassword: String?
    /// `log_size`: default console log (ring buffer) size in bytes (default 1 MiB).
    public var logSize = 1_048_576
    /// `max_log_size`: largest log a request may ask for (default 16 MiB).
    public var maxLogSize = 16 * 1_048_576
    /// `max_consoles`: most consoles at once (default 1000).
    public var maxConsoles = 1000
    /// `sol_session_timeout`: SOL session timeout (default 60 s; longer than the keepalive).
    public var solSessionTimeout: Duration = .seconds(60)
    /// `sol_keepalive`: SOL keepalive interval (default 20 s).
    public var solKeepalive: Duration = .seconds(20)
    /// `restart_backoff`: first pause before restarting a failed worker (default 1 s); doubles each time.
    public var restartBackoff: Duration = .seconds(1)
    /// `max_restart_backoff`: longest pause (default 30 s).
    public var maxRestartBackoff: Duration = .seconds(30)
    /// `max_restarts`: failures in a row before the console goes to `error` (default 5).
    public var maxRestarts = 5
    /// `stable_after`: a worker up this long resets the failure count (default 30 s).
    public var stableAfter: Duration = .seconds(30)
    /// `writer_idle_timeout`: a client that holds the writer seat loses it after this much silence (default 60 s).
    public var writerIdleTimeout: Duration = .seconds(60)
    /// `worker_stop_timeout`: how long a stopping worker may take before SIGKILL (default 5 s).
    public var workerStopTimeout: Duration = .seconds(5)
    /// `cert_file`: PEM certificate for TLS on the console endpoints (TCP and WebSocket).
    public var certFile: String?
    /// `key_file`: PEM key for `cert_file`.
    public var keyFile: String?
    /// `xterm_dir`: where Debian's libjs-xterm installed xterm.js (default /usr/share/javascript/xterm).
    public var xtermDirectory = "/usr/share/javascript/xterm"

    /// `worker_executable`: the program whose `ipmiproxy worker` (under `ironic`) starts a worker,
    /// when it is not the running executable (tests, packaging with separate binaries).
    public var workerExecutable: String?

    /// The defaults.
    public init() {}

    /// Address the console endpoints bind.
    public var endpointHost: String { consoleHostIP ?? hostIP }
    /// Host name in endpoint URLs.
    public var advertisedHost: String { publicHost ?? endpointHost }

    /// Reads `[ipmiproxy]` from `ini` over the defaults.
    ///
    /// - Throws: `ConfigError` naming the option and the bad value.
    public init(ini: INIFile) throws(ConfigError) {
        let section = "ipmiproxy"
        func value(_ key: String) -> String? {
            ini.value(section, key).flatMap { $0.isEmpty ? nil : $0 }
        }
        func bad(_ key: String, _ expected: String) -> ConfigError {
            ConfigError(source: "[\(section)] \(key)", message: "expected \(expected), got '\(ini.value(section, key) ?? "")'")
        }
        func int(_ key: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int? {
            guard let raw = value(key) else { return nil }
            guard let number = Int(raw), range.contains(number) else { throw bad(key, "an integer in \(range.lowerBound)...\(range.upperBound)") }
            return number
        }
        func seconds(_ key: String) throws(ConfigError) -> Duration? {
            guard let raw = value(key) else { return nil }
            guard let number = Double(raw), number >= 0, number < 86_400 else { throw bad(key, "a number of seconds") }
            return .milliseconds(Int64(number * 1000))
        }
        self.init()
        hostIP = value("host_ip") ?? hostIP
        port = try int("port", 0...65535) ?? port
        consoleHostIP = value("console_host_ip")
        publicHost = value("public_host")
        if let raw = value("port_range") {
            let parts = raw.split(separator: ":").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, parts[0] >= 1, parts[1] <= 65535, parts[1] - parts[0] >= 1 else {
                throw bad("port_range", "'low:high' with at least two ports")
            }
            portRange = parts[0]...parts[1]
        }
        if let raw = value("auth_strategy") {
            guard let strategy = AuthStrategy(rawValue: raw) else { throw bad("auth_strategy", "token, http_basic or noauth") }
            authStrategy = strategy
        }
        authToken = value("auth_token")
        httpBasicUsername = value("http_basic_username")
        httpBasicPassword = value("http_basic_password")
        logSize = try int("log_size", 1024...1_073_741_824) ?? logSize
        maxLogSize = try int("max_log_size", 1024...1_073_741_824) ?? maxLogSize
        maxConsoles = try int("max_consoles", 1...100_000) ?? maxConsoles
        solSessionTimeout = try seconds("sol_session_timeout") ?? solSessionTimeout
        solKeepalive = try seconds("sol_keepalive") ?? solKeepalive
        restartBackoff = try seconds("restart_backoff") ?? restartBackoff
        maxRestartBackoff = try seconds("max_restart_backoff") ?? maxRestartBackoff
        maxRestarts = try int("max_restarts", 0...1000) ?? maxRestarts
        stableAfter = try seconds("stable_after") ?? stableAfter
        writerIdleTimeout = try seconds("writer_idle_timeout") ?? writerIdleTimeout
        workerStopTimeout = try seconds("worker_stop_timeout") ?? workerStopTimeout
        certFile = value("cert_file")
        keyFile = value("key_file")
        xtermDirectory = value("xterm_dir") ?? xtermDirectory
        workerExecutable = value("worker_executable")
        try validate()
    }

    /// Checks combinations single options cannot.
    public func validate() throws(ConfigError) {
        let source = "[ipmiproxy]"
        guard solSessionTimeout > solKeepalive else {
            throw ConfigError(source: source, message: "sol_session_timeout must be longer than sol_keepalive (libipmiconsole refuses otherwise)")
        }
        guard logSize <= maxLogSize else { throw ConfigError(source: source, message: "log_size exceeds max_log_size") }
        guard (certFile == nil) == (keyFile == nil) else {
            throw ConfigError(source: source, message: "cert_file and key_file go together")
        }
        switch authStrategy {
        case .token:
            guard authToken != nil else {
                throw ConfigError(source: source, message: "auth_strategy = token needs auth_token (or set auth_strategy = noauth on a loopback-only proxy)")
            }
        case .httpBasic:
            guard httpBasicUsername != nil, httpBasicPassword != nil else {
                throw ConfigError(source: source, message: "auth_strategy = http_basic needs http_basic_username and http_basic_password")
            }
        case .noauth: break
        }
    }

    /// Loads `[ipmiproxy]` from files (later files win).
    public static func load(files: [String]) throws(ConfigError) -> ProxyConfig {
        var merged = INIFile()
        for path in files {
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw ConfigError(source: path, message: "cannot read configuration file: \(error.localizedDescription)")
            }
            merged = merged.merging(try INIFile(parsing: text, source: path))
        }
        return try ProxyConfig(ini: merged)
    }
}
