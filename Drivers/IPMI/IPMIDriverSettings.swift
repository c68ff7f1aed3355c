import Core

/// Service-wide settings the ipmi interfaces read: session length from `[ipmi]`, how long power
/// changes may take from `[conductor]`. Per-node settings live in `driver_info` instead
/// (`IPMIDriverInfo`).
public struct IPMIDriverSettings: Sendable, Hashable {
    /// How long one IPMI session may wait for a BMC (`[ipmi] session_timeout`, default 5 s).
    public var sessionTimeout: Duration
    /// How long a power on or off may take when the caller gives no timeout
    /// (`[conductor] power_state_change_timeout`, default 60 s).
    public var powerStateChangeTimeout: Duration
    /// How long a soft power off may take when the caller gives no timeout
    /// (`[conductor] soft_power_off_timeout`, default 600 s).
    public var softPowerOffTimeout: Duration
    /// Whether to keep a one-time boot device from expiring after the BMC's 60 s timer when the
    /// node has no `ipmi_disable_boot_timeout` (Ironic's `[ipmi] disable_boot_timeout`, default true).
    public var disableBootTimeout: Bool
    /// First pause between power state reads while waiting for a change; the pause grows up to
    /// `maximumPollInterval` (default 1 s).
    public var pollInterval: Duration
    /// Longest pause between power state reads (default 5 s).
    public var maximumPollInterval: Duration

    /// Creates settings; the defaults are Ironic's.
    public init(
        sessionTimeout: Duration = .seconds(5),
        powerStateChangeTimeout: Duration = .seconds(60),
        softPowerOffTimeout: Duration = .seconds(600),
        disableBootTimeout: Bool = true,
        pollInterval: Duration = .seconds(1),
        maximumPollInterval: Duration = .seconds(5)
    ) {
        self.sessionTimeout = sessionTimeout
        self.powerStateChangeTimeout = powerStateChangeTimeout
        self.softPowerOffTimeout = softPowerOffTimeout
        self.disableBootTimeout = disableBootTimeout
        self.pollInterval = pollInterval
        self.maximumPollInterval = maximumPollInterval
    }

    /// Settings taken from the service's `[ipmi]` and `[conductor]` sections.
    public init(ipmi: IPMIConfig, conductor: ConductorConfig) {
        self.init(
            sessionTimeout: ipmi.sessionTimeout,
            powerStateChangeTimeout: conductor.powerStateChangeTimeout,
            softPowerOffTimeout: conductor.forceSoftPowerOffTimeout)
    }
}
