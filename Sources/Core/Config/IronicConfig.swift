import Foundation

/// The service's configuration, read from `ironic.conf` files with Ironic's section and
/// option names. Every option has a documented default, so no file is needed at all.
public struct IronicConfig: Sendable, Hashable {
    /// `[DEFAULT] host`: this service's name in the conductors table and in node locks.
    public var host: String
    /// `[DEFAULT] debug`: log at debug level.
    public var debug = false
    /// `[DEFAULT] enabled_*` and `default_*_interface`.
    public var drivers: DriverConfig
    /// `[api]`.
    public var api: APIConfig
    /// `[database]`.
    public var database: DatabaseConfig
    /// `[conductor]`.
    public var conductor: ConductorConfig
    /// `[ipmi]`.
    public var ipmi: IPMIConfig
    /// `[DEFAULT] rpc_transport` (default `json-rpc`; `ironic standalone` needs none).
    public var rpcTransport: RPCTransport = .jsonRPC
    /// `[json_rpc]`.
    public var jsonRPC = JSONRPCConfig()
    /// `[DEFAULT] hash_partition_exponent`, `hash_ring_reset_interval`.
    public var hashRing = HashRingConfig()
    /// `[fake]`.
    public var fake = FakeConfig()
    /// `[deploy]`, `[pxe]`, `[agent]`, `[dhcp]`, `[service_catalog]`, `[inspector]` and the
    /// call-back timeouts: provisioning through a ramdisk agent.
    public var deploy = DeployConfig()
    /// `[ansible]`: the `ansible` deploy interface's playbooks and runner.
    public var ansible = AnsibleConfig()
    /// Every section as read, for options other modules own (`[ipmiproxy]`, `[ipmi] console_proxy_*`).
    public var document = INIFile()

    /// Defaults: fake-hardware and ipmi, API on 127.0.0.1:6385, SQLite under `./var/`.
    public init() {
        host = ProcessInfo.processInfo.hostName
        drivers = DriverConfig(enabledHardwareTypes: ["fake-hardware", "ipmi"])
        api = APIConfig()
        database = DatabaseConfig()
        conductor = ConductorConfig()
        ipmi = IPMIConfig()
    }

    /// Reads the files in order (later files win), then applies them over the defaults.
    public static func load(files: [String]) throws(ConfigError) -> IronicConfig {
        var merged = INIFile()
        for path in files {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ConfigError(source: path, message: "cannot read configuration file: \(error.localizedDescription)")
            }
            merged = merged.merging(try INIFile(parsing: text, source: path))
        }
        return try IronicConfig(ini: merged)
    }

    /// Applies an INI document over the defaults.
    public init(ini: INIFile) throws(ConfigError) {
        self.init()
        document = ini
        let reader = OptionReader(ini: ini)
        host = try reader.string("DEFAULT", "host") ?? host
        debug = try reader.bool("DEFAULT", "debug") ?? debug
        if let types = try reader.list("DEFAULT", "enabled_hardware_types") { drivers.enabledHardwareTypes = types }
        for kind in InterfaceKind.allCases {
            if let names = try reader.list("DEFAULT", "enabled_\(kind.rawValue)_interfaces") {
                drivers.enabledInterfaces[kind] = names
            }
            if let name = try reader.string("DEFAULT", "default_\(kind.rawValue)_interface"), !name.isEmpty {
                drivers.defaultInterfaces[kind] = name
            }
        }
        api.hostIP = try reader.string("api", "host_ip") ?? api.hostIP
        api.port = try reader.int("api", "port", range: 1...65535) ?? api.port
        api.maxLimit = try reader.int("api", "max_limit", range: 1...100_000) ?? api.maxLimit
        api.publicEndpoint = try reader.string("api", "public_endpoint") ?? api.publicEndpoint
        api.enableRamdiskEndpoints = try reader.bool("api", "enable_ramdisk_endpoints") ?? api.enableRamdiskEndpoints
        api.restrictLookup = try reader.bool("api", "restrict_lookup") ?? api.restrictLookup
        api.ramdiskHeartbeatTimeout =
            try reader.int("api", "ramdisk_heartbeat_timeout", range: 1...86_400) ?? api.ramdiskHeartbeatTimeout
        api.maxRequestBodySize =
            try reader.int("oslo_middleware", "max_request_body_size", range: 1024...1_073_741_824) ?? api.maxRequestBodySize
        database.connection = try reader.string("database", "connection") ?? database.connection
        conductor.heartbeatInterval = try reader.seconds("conductor", "heartbeat_interval") ?? conductor.heartbeatInterval
        conductor.heartbeatTimeout = try reader.seconds("conductor", "heartbeat_timeout") ?? conductor.heartbeatTimeout
        conductor.automatedClean = try reader.bool("conductor", "automated_clean") ?? conductor.automatedClean
        conductor.conductorGroup = try reader.string("conductor", "conductor_group") ?? conductor.conductorGroup
        conductor.workersPoolSize = try reader.int("conductor", "workers_pool_size", range: 1...10_000) ?? conductor.workersPoolSize
        conductor.forceSoftPowerOffTimeout = try reader.seconds("conductor", "soft_power_off_timeout") ?? conductor.forceSoftPowerOffTimeout
        conductor.powerStateChangeTimeout =
            try reader.seconds("conductor", "power_state_change_timeout") ?? conductor.powerStateChangeTimeout
        conductor.nodeLockedRetryAttempts =
            try reader.int("conductor", "node_locked_retry_attempts", range: 1...100) ?? conductor.nodeLockedRetryAttempts
        conductor.nodeLockedRetryInterval =
            try reader.seconds("conductor", "node_locked_retry_interval") ?? conductor.nodeLockedRetryInterval
        ipmi.minCommandInterval = try reader.seconds("ipmi", "min_command_interval") ?? ipmi.minCommandInterval
        ipmi.commandRetryTimeout = try reader.seconds("ipmi", "command_retry_timeout") ?? ipmi.commandRetryTimeout
        ipmi.workerThreads = try reader.int("ipmi", "worker_threads", range: 1...1024) ?? ipmi.workerThreads
        ipmi.sessionTimeout = try reader.seconds("ipmi", "session_timeout") ?? ipmi.sessionTimeout
        conductor.syncPowerStateInterval =
            try reader.seconds("conductor", "sync_power_state_interval") ?? conductor.syncPowerStateInterval
        conductor.syncPowerStateWorkers =
            try reader.int("conductor", "sync_power_state_workers", range: 1...1024) ?? conductor.syncPowerStateWorkers
        conductor.powerStateSyncMaxRetries =
            try reader.int("conductor", "power_state_sync_max_retries", range: 0...1000) ?? conductor.powerStateSyncMaxRetries
        conductor.forcePowerStateDuringSync =
            try reader.bool("conductor", "force_power_state_during_sync") ?? conductor.forcePowerStateDuringSync
        conductor.powerFailureRecoveryInterval =
            try reader.seconds("conductor", "power_failure_recovery_interval") ?? conductor.powerFailureRecoveryInterval
        conductor.hardwareEventPollInterval =
            try reader.seconds("conductor", "hardware_event_poll_interval") ?? conductor.hardwareEventPollInterval
        conductor.allowDeletingAvailableNodes =
            try reader.bool("conductor", "allow_deleting_available_nodes") ?? conductor.allowDeletingAvailableNodes
        conductor.gracefulShutdownTimeout =
            try reader.seconds("DEFAULT", "graceful_shutdown_timeout") ?? conductor.gracefulShutdownTimeout
        conductor.syncLocalStateInterval =
            try reader.seconds("conductor", "sync_local_state_interval") ?? conductor.syncLocalStateInterval
        conductor.consoleReconcileInterval =
            try reader.seconds("conductor", "console_reconcile_interval") ?? conductor.consoleReconcileInterval
        try readRPCOptions(reader)
        try readFakeOptions(reader)
        try readDeployOptions(reader)
        try readAnsibleOptions(reader)
    }
}

/// `[api]` options.
public struct APIConfig: Sendable, Hashable {
    /// `host_ip`: address the API listens on (default 127.0.0.1).
    public var hostIP = "127.0.0.1"
    /// `port` (default 6385).
    public var port = 6385
    /// `max_limit`: most items one list request returns (default 1000).
    public var maxLimit = 1000
    /// `public_endpoint`: base URL for links, when the API sits behind a proxy.
    public var publicEndpoint: String?
    /// `[oslo_middleware] max_request_body_size` in bytes (default 114688, as in Ironic).
    public var maxRequestBodySize = 114_688
    /// `enable_ramdisk_endpoints`: serve lookup, heartbeat and continue_inspection (default
    /// true); when false they answer 403.
    public var enableRamdiskEndpoints = true
    /// `restrict_lookup`: lookups find only nodes in the states where a ramdisk is expected
    /// (deploying, cleaning, inspecting, rescuing and their waits; default true).
    public var restrictLookup = true
    /// `ramdisk_heartbeat_timeout`: seconds between heartbeats the agent is told to keep (default 300).
    public var ramdiskHeartbeatTimeout = 300
}

/// `[database]` options.
public struct DatabaseConfig: Sendable, Hashable {
    /// `connection`: `sqlite:///relative/path`, `sqlite:////absolute/path` (default `sqlite:///var/ironic.sqlite`),
    /// or `postgresql://user:password@host:port/dbname` (also `postgresql+psycopg2://`).
    public var connection = "sqlite:///var/ironic.sqlite"
}

/// `[conductor]` options.
public struct ConductorConfig: Sendable, Hashable {
    /// `heartbeat_interval` (default 10 s).
    public var heartbeatInterval: Duration = .seconds(10)
    /// `heartbeat_timeout`: a conductor silent for longer is dead (default 60 s).
    public var heartbeatTimeout: Duration = .seconds(60)
    /// `automated_clean`: clean nodes on `provide` and after undeploy (default true).
    public var automatedClean = true
    /// `conductor_group` this conductor serves (default "").
    public var conductorGroup = ""
    /// `workers_pool_size`: most asynchronous actions in flight (default 300).
    public var workersPoolSize = 300
    /// `soft_power_off_timeout` (default 600 s).
    public var forceSoftPowerOffTimeout: Duration = .seconds(600)
    /// `power_state_change_timeout` (default 60 s).
    public var powerStateChangeTimeout: Duration = .seconds(60)
    /// `node_locked_retry_attempts`: tries to take a busy node's lock before answering 409 (default 3).
    public var nodeLockedRetryAttempts = 3
    /// `node_locked_retry_interval` between those tries (default 1 s).
    public var nodeLockedRetryInterval: Duration = .seconds(1)
    /// `sync_power_state_interval`: seconds between power-state sync passes; 0 disables (default 60).
    public var syncPowerStateInterval: Duration = .seconds(60)
    /// `sync_power_state_workers`: nodes synced at once (default 8).
    public var syncPowerStateWorkers = 8
    /// `power_state_sync_max_retries`: failed syncs in a row before maintenance (default 3).
    public var powerStateSyncMaxRetries = 3
    /// `force_power_state_during_sync`: drive the hardware to the recorded state instead of
    /// recording the hardware's (default true).
    public var forcePowerStateDuringSync = true
    /// `power_failure_recovery_interval`: seconds between tries to recover nodes the conductor
    /// put in maintenance for a power failure; 0 disables (default 300).
    public var powerFailureRecoveryInterval: Duration = .seconds(300)
    /// `hardware_event_poll_interval`: seconds between reads of BMC event logs into node
    /// history; 0 disables (default 60). Not an Ironic option.
    public var hardwareEventPollInterval: Duration = .seconds(60)
    /// `allow_deleting_available_nodes`: nodes in `available` may be deleted (default true).
    public var allowDeletingAvailableNodes = true
    /// `sync_local_state_interval`: how often a conductor checks for deployed nodes the hash
    /// ring moved to it (default 180 s, as in Ironic); it also checks at once whenever the set
    /// of live conductors changes.
    public var syncLocalStateInterval: Duration = .seconds(180)
    /// `console_reconcile_interval`: seconds between passes that restore the consoles of
    /// `console_enabled` nodes their console proxy no longer runs (after a proxy restart); 0
    /// disables (default 30). Not an Ironic option.
    public var consoleReconcileInterval: Duration = .seconds(30)
    /// `graceful_shutdown_timeout`: how long a stopping conductor waits for running work (default 60 s).
    public var gracefulShutdownTimeout: Duration = .seconds(60)
}

/// `[ipmi]` options.
public struct IPMIConfig: Sendable, Hashable {
    /// `min_command_interval`: least time between two commands to the same BMC (default 1 s;
    /// Ironic's is 5 s because every command there is a new ipmitool process).
    public var minCommandInterval: Duration = .seconds(1)
    /// `command_retry_timeout`: how long one operation retries a BMC that is busy or times out
    /// (default 60 s, as in Ironic).
    public var commandRetryTimeout: Duration = .seconds(60)
    /// `worker_threads`: threads that run blocking FreeIPMI calls (default 16).
    public var workerThreads = 16
    /// `session_timeout`: how long one IPMI session may wait for a BMC (default 5 s).
    public var sessionTimeout: Duration = .seconds(5)
}

/// Typed access to INI values with clear errors.
struct OptionReader {
    let ini: INIFile

    func string(_ section: String, _ key: String) throws(ConfigError) -> String? {
        ini.value(section, key)
    }

    func list(_ section: String, _ key: String) throws(ConfigError) -> [String]? {
        guard let raw = ini.value(section, key) else { return nil }
        return raw.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func int(_ section: String, _ key: String, range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let raw = ini.value(section, key) else { return nil }
        guard let value = Int(raw), range.contains(value) else {
            throw ConfigError(source: "[\(section)] \(key)", message: "expected an integer in \(range.lowerBound)...\(range.upperBound), got '\(raw)'")
        }
        return value
    }

    func seconds(_ section: String, _ key: String) throws(ConfigError) -> Duration? {
        guard let raw = ini.value(section, key) else { return nil }
        guard let value = Double(raw), value >= 0 else {
            throw ConfigError(source: "[\(section)] \(key)", message: "expected a number of seconds, got '\(raw)'")
        }
        return .milliseconds(Int64(value * 1000))
    }

    func bool(_ section: String, _ key: String) throws(ConfigError) -> Bool? {
        guard let raw = ini.value(section, key) else { return nil }
        switch raw.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw ConfigError(source: "[\(section)] \(key)", message: "expected true or false, got '\(raw)'")
        }
    }
}
