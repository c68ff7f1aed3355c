import Core
import GenericInterfaces
import Logging

/// The interfaces that provision through Ansible, built once per service over `[ansible]`
/// and `[deploy]`: they share ONE ``AnsibleRunner``, so playbooks of all the service's nodes
/// are batched together and the process caps hold for the whole service.
///
/// ```swift
/// let ansible = AnsibleInterfaces(settings: config.ansible, deploy: config.deploy, logger: logger)
/// var catalog = InterfaceCatalog()
/// ansible.entryPoints.register(in: &catalog)   // deploy "ansible"
/// ```
public struct AnsibleInterfaces: Sendable {
    /// `ansible` deploy.
    public let deploy: AnsibleDeploy
    /// The runner of every playbook of this service.
    public var runner: AnsibleRunner { deploy.runner }

    /// Creates the implementations and their runner.
    public init(
        settings: AnsibleConfig = AnsibleConfig(), deploy deploySettings: DeployConfig = DeployConfig(),
        logger: Logger = Logger(label: "ironic.ansible")
    ) {
        let runner = AnsibleRunner(settings: settings, logger: logger)
        deploy = AnsibleDeploy(settings: settings, deploy: deploySettings, runner: runner, logger: logger)
    }

    /// These implementations under their own names.
    public var entryPoints: DriverEntryPoints {
        DriverEntryPoints(interfaces: [deploy])
    }
}

extension DriverEntryPoints {
    /// The Ansible-driven interfaces.
    public static func ansible(_ interfaces: AnsibleInterfaces) -> DriverEntryPoints {
        interfaces.entryPoints
    }
}
