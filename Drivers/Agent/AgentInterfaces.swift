import Core
import GenericInterfaces
import Logging

/// The interfaces that provision through the ironic-python-agent ramdisk, built once per
/// service over `[deploy]` settings.
///
/// ```swift
/// let agent = AgentInterfaces(settings: config.deploy, logger: logger)
/// var catalog = InterfaceCatalog()
/// agent.entryPoints.register(in: &catalog)   // deploy "direct", boot "ipxe", inspect and rescue "agent"
/// ```
public struct AgentInterfaces: Sendable {
    /// `direct` deploy.
    public let direct: DirectDeploy
    /// `ipxe` boot.
    public let ipxe: IPXEBoot
    /// `pxe` boot (PXELINUX over TFTP).
    public let pxe: PXEBoot
    /// `agent` inspect.
    public let inspect: AgentInspect
    /// `agent` rescue.
    public let rescue: AgentRescue

    /// Creates the implementations.
    public init(settings: DeployConfig = DeployConfig(), logger: Logger = Logger(label: "ironic.agent")) {
        let client = AgentClient(timeout: settings.agentCommandTimeout, logger: logger)
        let images = ImageCache(settings: settings, logger: logger)
        direct = DirectDeploy(settings: settings, client: client, images: images)
        ipxe = IPXEBoot(settings: settings, images: images)
        pxe = PXEBoot(settings: settings, logger: logger)
        inspect = AgentInspect(settings: settings)
        rescue = AgentRescue(settings: settings, agent: client)
    }

    /// These implementations under their own names.
    public var entryPoints: DriverEntryPoints {
        DriverEntryPoints(interfaces: [direct, ipxe, pxe, inspect, rescue])
    }
}

extension DriverEntryPoints {
    /// The agent-driven interfaces.
    public static func agent(_ interfaces: AgentInterfaces) -> DriverEntryPoints {
        interfaces.entryPoints
    }
}
