import Core

/// Which network-boot program a node's firmware chains to, and so which boot file DHCP
/// names for it.
public enum NetworkBootLoader: String, Sendable, Hashable {
    /// iPXE: iPXE clients get `http_url/boot.ipxe`; plain PXE ROMs first get iPXE itself.
    case ipxe
    /// PXELINUX over TFTP (the `pxe` interface): `[pxe] pxe_bootfile_name` from the TFTP
    /// server that serves `[pxe] tftp_root`.
    case pxelinux
}

/// `[dhcp] dhcp_provider`: points a node's NICs at the boot files while it boots a ramdisk.
///
/// The boot interfaces call ``update(_:loader:)`` from `prepareRamdisk` and ``clean(_:)``
/// from `cleanUpRamdisk`; both act on the task's pxe-enabled ports.
public protocol DHCPProvider: Sendable {
    /// The provider's configuration name (`none`, `dnsmasq`).
    var name: String { get }
    /// Makes DHCP answer the node's pxe-enabled MACs with the boot file for `loader`.
    func update(_ task: NodeTask, loader: NetworkBootLoader) async throws
    /// Stops DHCP handing boot files to the node's MACs.
    func clean(_ task: NodeTask) async throws
}

/// `none`: the network's DHCP server is already configured to hand out the boot file (QEMU
/// user networking's `bootfile=`, or a static dnsmasq configuration); nothing is written.
public struct NoDHCPProvider: DHCPProvider {
    public let name = "none"

    /// Creates the provider.
    public init() {}

    public func update(_ task: NodeTask, loader: NetworkBootLoader) async throws {}
    public func clean(_ task: NodeTask) async throws {}
}

/// The providers by their `[dhcp] dhcp_provider` names.
public enum DHCPProviders {
    /// The provider `[dhcp] dhcp_provider` names (`none` for anything but `dnsmasq`, which
    /// configuration already rejects).
    public static func configured(_ settings: DeployConfig) -> any DHCPProvider {
        switch settings.dhcpProvider {
        case "dnsmasq": DnsmasqDHCPProvider(settings: settings)
        default: NoDHCPProvider()
        }
    }
}

/// The ports DHCP concerns: pxe-enabled ones with a well-formed MAC, lower case, each once.
func pxeMACs(_ ports: [NodePort]) -> [String] {
    var seen = Set<String>()
    return ports.compactMap { port in
        let mac = port.address.lowercased()
        guard port.pxeEnabled, BootFiles.isMAC(mac), seen.insert(mac).inserted else { return nil }
        return mac
    }
}
