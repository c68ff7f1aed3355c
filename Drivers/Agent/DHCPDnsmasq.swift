import Core
import Foundation

/// `dnsmasq`: host and option files for a dnsmasq started with
/// `--dhcp-hostsdir=<[dnsmasq] dhcp_hostsdir>` and `--dhcp-optsdir=<[dnsmasq] dhcp_optsdir>`
/// (and `--dhcp-match=set:ipxe,175`, so iPXE's own requests carry the `ipxe` tag).
///
/// For a node it writes, as Ironic's provider does:
///
/// - `dhcp_hostsdir/ironic-<mac>.conf`, one per pxe-enabled MAC: `<mac>,set:<tag>,set:ironic`;
/// - `dhcp_optsdir/ironic-<node uuid>.conf`: the boot file for requests carrying `<tag>`:
///   iPXE clients get `http_url/boot.ipxe`, plain PXE ROMs get iPXE (`undionly.kpxe`, or
///   `snponly.efi` for a node whose `boot_mode` is `uefi`) from dnsmasq's TFTP server; for
///   pxelinux, `[pxe] pxe_bootfile_name` (options 66, 150 and `siaddr` name
///   `[pxe] tftp_server` when it is set; dnsmasq otherwise names itself).
///
/// `<tag>` is a fresh UUID kept in `driver_internal_info.dnsmasq_tag` until clean-up.
///
/// Clean-up rewrites each host file as `<mac>,ignore` and removes the options file, as Ironic
/// does. dnsmasq reads new and changed files in both directories by itself (inotify), and
/// the newest entry for a MAC wins, so it stops answering the MAC at once; a removed file,
/// by contrast, is forgotten only on SIGHUP, and until then dnsmasq would go on handing out
/// the ramdisk's boot file. No SIGHUP is ever needed, which matters: dnsmasq 2.90 (Debian 12)
/// crashes on SIGHUP once a host entry with `set:` tags has served a lease. The next ramdisk
/// boot rewrites the host file with a new tag. Options of old tags stay in dnsmasq's memory
/// until it restarts, inert: no host entry sets their tag any more.
public struct DnsmasqDHCPProvider: DHCPProvider {
    public let name = "dnsmasq"
    /// `[dnsmasq] dhcp_hostsdir`.
    public let hostsDirectory: String
    /// `[dnsmasq] dhcp_optsdir`.
    public let optionsDirectory: String
    let files: BootFiles
    /// `[pxe] pxe_bootfile_name`.
    let pxeBootfileName: String
    /// `[pxe] tftp_server`.
    let tftpServer: String

    /// The provider over `[dnsmasq]`, `[deploy]` and `[pxe]` settings.
    public init(settings: DeployConfig) {
        hostsDirectory = settings.dnsmasqHostsDirectory
        optionsDirectory = settings.dnsmasqOptionsDirectory
        files = BootFiles(settings: settings)
        pxeBootfileName = settings.pxeBootfileName
        tftpServer = settings.tftpServer
    }

    /// `dhcp_hostsdir/ironic-<mac>.conf`.
    public func hostFile(_ mac: String) -> String { "\(hostsDirectory)/ironic-\(mac.lowercased()).conf" }
    /// `dhcp_optsdir/ironic-<node uuid>.conf`.
    public func optionsFile(_ nodeUUID: String) -> String { "\(optionsDirectory)/ironic-\(nodeUUID).conf" }

    public func update(_ task: NodeTask, loader: NetworkBootLoader) async throws {
        let node = task.node
        let tag: String
        if let existing = node.driverInternalInfo["dnsmasq_tag"]?.stringValue, !existing.isEmpty {
            tag = existing
        } else {
            tag = UUID().uuidString.lowercased()
            task.updateNode { $0.driverInternalInfo["dnsmasq_tag"] = .string(tag) }
        }
        let options = Self.options(
            tag: tag, loader: loader, bootScriptURL: files.bootScriptURL, uefi: node.bootMode == "uefi",
            pxeBootfile: pxeBootfileName, tftpServer: tftpServer)
        // Options first: a host entry must never set a tag whose options dnsmasq lacks.
        try BootFiles.write(options.joined(separator: "\n") + "\n", to: optionsFile(node.uuid))
        for mac in pxeMACs(task.ports) {
            try BootFiles.write("\(mac),set:\(tag),set:ironic\n", to: hostFile(mac))
        }
        task.logger.debug("dnsmasq host entries written", metadata: ["tag": "\(tag)", "macs": "\(pxeMACs(task.ports))"])
    }

    public func clean(_ task: NodeTask) async throws {
        // Rewritten, not removed: dnsmasq would keep a removed entry until SIGHUP.
        for mac in pxeMACs(task.ports) {
            try BootFiles.write("\(mac),ignore\n", to: hostFile(mac))
        }
        try BootFiles.remove(optionsFile(task.node.uuid))
        task.updateNode { $0.driverInternalInfo["dnsmasq_tag"] = nil }
    }

    /// The `--dhcp-optsdir` lines for one node: `tag:<tag>[,tag:...],<option>,<value>`.
    static func options(
        tag: String, loader: NetworkBootLoader, bootScriptURL: String, uefi: Bool, pxeBootfile: String = "pxelinux.0",
        tftpServer: String = ""
    ) -> [String] {
        switch loader {
        case .ipxe:
            [
                "tag:\(tag),tag:!ipxe,67,\(uefi ? "snponly.efi" : "undionly.kpxe")",
                "tag:\(tag),tag:ipxe,67,\(bootScriptURL)",
            ]
        case .pxelinux:
            // Ironic's options: 66 (TFTP server name), 150 (its address) and siaddr, which
            // dnsmasq would otherwise set to itself.
            ["tag:\(tag),67,\(pxeBootfile)"]
                + (tftpServer.isEmpty
                    ? []
                    : ["tag:\(tag),66,\(tftpServer)", "tag:\(tag),150,\(tftpServer)", "tag:\(tag),option:server-ip-address,\(tftpServer)"])
        }
    }
}
