import AgentDrivers
import AnsibleDrivers
import Core
import FakeHardware
import GenericInterfaces
import IPMI
import IPMIHardware
import Logging
import Synchronization

/// Every hardware type and interface implementation this build ships, by name: what
/// configuration's `enabled_*` options choose from.
///
/// A driver target joins by becoming a dependency of this target and adding its
/// `DriverEntryPoints` to `entryPoints(ipmi:)`.
///
/// ```swift
/// let registry = try ShippedHardware.registry(
///     config: config.drivers, ipmi: config.ipmi, conductor: config.conductor, logger: logger)
/// var node = Node(driver: "ipmi")
/// try registry.resolveInterfaces(of: &node)   // power_interface = "ipmi", deploy_interface = "fake", ...
/// ```
public enum ShippedHardware {
    /// The driver targets linked into this build, generic interfaces first, with the ipmi
    /// implementations over `ipmi`'s BMC client.
    public static func entryPoints(
        ipmi: IPMIInterfaces, fake: FakeConfig = FakeConfig(), agent: AgentInterfaces = AgentInterfaces(),
        ansible: AnsibleInterfaces = AnsibleInterfaces()
    ) -> [DriverEntryPoints] {
        [.generic, .fakeHardware(fake), .ipmi(ipmi), .agent(agent), .ansible(ansible)]
    }

    /// The driver targets with ipmi implementations over a client built from default `[ipmi]`
    /// settings when first used (see `registry(config:)`).
    public static var entryPoints: [DriverEntryPoints] { entryPoints(ipmi: defaultIPMIInterfaces()) }

    /// Every hardware type shipped, in the order the targets list them.
    public static var hardwareTypes: [HardwareType] { [HardwareType.fakeHardware, .ipmi] }

    /// Every interface implementation shipped, by kind and name, with the ipmi ones over
    /// `ipmi`'s BMC client and also under Ironic's `ipmitool` name.
    public static func catalog(
        ipmi: IPMIInterfaces, fake: FakeConfig = FakeConfig(), agent: AgentInterfaces = AgentInterfaces(),
        ansible: AnsibleInterfaces = AnsibleInterfaces()
    ) -> InterfaceCatalog {
        var catalog = InterfaceCatalog()
        for target in entryPoints(ipmi: ipmi, fake: fake, agent: agent, ansible: ansible) { target.register(in: &catalog) }
        ipmi.registerAliases(in: &catalog)
        return catalog
    }

    /// The catalog with ipmi implementations over a client built from default `[ipmi]`
    /// settings when first used.
    public static func catalog() -> InterfaceCatalog { catalog(ipmi: defaultIPMIInterfaces()) }

    /// The registry for what `config` enables out of what this build ships, with the ipmi
    /// interfaces over `ipmi`'s BMC client.
    ///
    /// - Throws: `DriverNotFound` for an unknown enabled hardware type, `InvalidParameterValue`
    ///   for an unknown enabled interface or a hardware type left without a core interface.
    public static func registry(
        config: DriverConfig, ipmi: IPMIInterfaces, fake: FakeConfig = FakeConfig(), agent: AgentInterfaces = AgentInterfaces(),
        ansible: AnsibleInterfaces = AnsibleInterfaces()
    ) throws(IronicError) -> DriverRegistry {
        try DriverRegistry(
            available: hardwareTypes, catalog: catalog(ipmi: ipmi, fake: fake, agent: agent, ansible: ansible), config: config)
    }

    /// The service's registry: every ipmi node shares ONE `FreeIPMIClient` built from `[ipmi]`
    /// (thread pool size, least interval between commands to one BMC, retry time, session
    /// timeout), and waits for power changes as long as `[conductor]` allows; the fake
    /// interfaces wait as long as `[fake]` says. The `ansible` deploy runs every playbook of the
    /// service through ONE runner built from `[ansible]`.
    ///
    /// The client, and its threads, are created when an ipmi node first needs a BMC, so a
    /// service without ipmi nodes never starts them; they stop when the registry is released.
    public static func registry(
        config: DriverConfig, ipmi: IPMIConfig, conductor: ConductorConfig, fake: FakeConfig = FakeConfig(), logger: Logger,
        console: IPMIProxyConsoleSettings = IPMIProxyConsoleSettings(), deploy: DeployConfig = DeployConfig(),
        ansible: AnsibleConfig = AnsibleConfig()
    ) throws(IronicError) -> DriverRegistry {
        let client = DeferredBMCClient { makeBMCClient(ipmi, logger: logger) }
        let interfaces = IPMIInterfaces(
            client: client, settings: IPMIDriverSettings(ipmi: ipmi, conductor: conductor), console: console)
        return try registry(
            config: config, ipmi: interfaces, fake: fake, agent: AgentInterfaces(settings: deploy, logger: logger),
            ansible: AnsibleInterfaces(settings: ansible, deploy: deploy, logger: logger))
    }

    /// The registry with default `[ipmi]` and `[conductor]` settings: for tests and tools that
    /// only need names and defaults. A service passes its configuration to
    /// `registry(config:ipmi:conductor:logger:)`.
    public static func registry(config: DriverConfig) throws(IronicError) -> DriverRegistry {
        try registry(config: config, ipmi: defaultIPMIInterfaces())
    }

    /// The FreeIPMI client `[ipmi]` describes.
    public static func makeBMCClient(_ ipmi: IPMIConfig, logger: Logger) -> FreeIPMIClient {
        FreeIPMIClient(
            threads: ipmi.workerThreads, minimumCommandInterval: ipmi.minCommandInterval,
            retryTimeout: ipmi.commandRetryTimeout, logger: logger)
    }

    private static func defaultIPMIInterfaces() -> IPMIInterfaces {
        // `IPMIConfig` and `ConductorConfig` have no public initialiser; the defaults come
        // from the default configuration.
        let defaults = IronicConfig()
        let client = DeferredBMCClient { makeBMCClient(defaults.ipmi, logger: Logger(label: "ironic.ipmi")) }
        return IPMIInterfaces(client: client, settings: IPMIDriverSettings(ipmi: defaults.ipmi, conductor: defaults.conductor))
    }
}

/// A BMC client that builds the real one on first use and hands every call to it: a registry
/// is built by every service and many tests, most of which never talk to a BMC, and the real
/// client starts its thread pool when created.
final class DeferredBMCClient: ForwardingBMCClient {
    private let make: @Sendable () -> any BMCClient
    private let made = Mutex<(any BMCClient)?>(nil)

    init(_ make: @escaping @Sendable () -> any BMCClient) {
        self.make = make
    }

    var forwardedClient: any BMCClient {
        made.withLock { made in
            if let made { return made }
            let client = make()
            made = client
            return client
        }
    }
}
