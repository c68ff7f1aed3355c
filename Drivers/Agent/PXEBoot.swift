import Core
import Foundation
import Logging

/// `pxe` boot: PXELINUX over TFTP, for legacy BIOS machines (Ironic's `pxe` boot interface).
///
/// What the TFTP server serving `[pxe] tftp_root` hands out:
///
/// ```
/// tftp_root/
///   pxelinux.0, ldlinux.c32        copied from [pxe] loader_file_paths (Debian: pxelinux, syslinux-common)
///   pxelinux.cfg/
///     default                      boot from disk, for machines without an entry (written when missing)
///     01-52-54-00-12-34-56         symbolic link to ../<node uuid>/config, one per pxe-enabled port
///   <node uuid>/
///     config                       the node's pxelinux config
///     deploy_kernel                hard links into [pxe] tftp_master_path
///     deploy_ramdisk
///   master_images/<sha256>         the cache (default tftp_master_path)
/// ```
///
/// The chain a machine follows: DHCP names `[pxe] pxe_bootfile_name` → pxelinux loads
/// `ldlinux.c32`, then `pxelinux.cfg/01-<mac>` of the NIC it booted from → that link leads to
/// the node's `config` → which loads `<node uuid>/deploy_kernel` and `deploy_ramdisk` with the
/// agent's kernel parameters; `ipappend 2` adds `BOOTIF=01-<mac>`.
///
/// `prepareInstance` (a whole-disk image, booting from its disk) removes the node's files, as
/// Ironic does; a machine that still network-boots then reads `pxelinux.cfg/default` and boots
/// its disk (pxelinux without any config reboots forever). With
/// `[pxe] enable_netboot_fallback` the node keeps a config of its own that boots the disk.
///
/// Only BIOS: a node whose boot mode is `uefi` fails validation (Ironic boots those through GRUB).
public struct PXEBoot: BootInterface {
    public let name = "pxe"
    let settings: DeployConfig
    /// The layout under `[pxe] tftp_root`.
    let files: BootFiles
    let ramdisk: BootRamdisk
    let dhcp: any DHCPProvider

    /// Creates the interface over `[deploy]`/`[pxe]`/`[dhcp]` settings, with a cache of its
    /// own under `[pxe] tftp_master_path` (hard links need `tftp_root`'s file system, so the
    /// `ipxe` interface's cache under `http_root` cannot be shared).
    public init(settings: DeployConfig, logger: Logger = Logger(label: "ironic.boot"), dhcp: (any DHCPProvider)? = nil) {
        let files = Self.files(settings)
        let images = ImageCache(files: files, maxSizeMiB: settings.imageCacheSizeMiB, ttl: settings.imageCacheTTL, logger: logger)
        self.settings = settings
        self.files = files
        self.ramdisk = BootRamdisk(settings: settings, files: files, images: images)
        self.dhcp = dhcp ?? DHCPProviders.configured(settings)
    }

    /// The layout under `[pxe] tftp_root`, with its cache in `[pxe] tftp_master_path`.
    public static func files(_ settings: DeployConfig) -> BootFiles {
        BootFiles(root: settings.tftpRoot, baseURL: "", masterDirectory: settings.tftpMasterPath)
    }

    public var properties: [String: String] { BootRamdisk.properties }

    public var ramdiskBootDevice: BootDevice { .pxe }

    public func validate(_ task: NodeTask) async throws {
        try BootRamdisk.validateRamdisk(task, settings: settings)
        guard !settings.tftpRoot.isEmpty else {
            throw IronicError.missingParameterValue("PXE boot is enabled but no TFTP root ([pxe] tftp_root) was specified")
        }
        try Self.checkBootMode(task.node)
        try loaders().check()
    }

    public func prepareRamdisk(_ task: NodeTask, purpose: RamdiskPurpose) async throws {
        let uuid = task.node.uuid
        try Self.checkBootMode(task.node)
        let parameters = try BootRamdisk.kernelParameters(task.node, settings: settings, purpose: purpose)
        try loaders().install()
        try writeDefaultConfig()
        let names = try await ramdisk.fetch(task, purpose: purpose)
        try BootFiles.write(config(uuid, kernel: names.kernel, ramdisk: names.ramdisk, parameters: parameters), to: files.nodeConfig(uuid))
        for mac in ramdisk.macs(task) {
            try BootFiles.symlink(files.pxelinuxMACEntry(mac), to: "../\(uuid)/config")
        }
        try await dhcp.update(task, loader: .pxelinux)
        task.logger.info("PXE boot of the \(purpose.rawValue) ramdisk prepared", metadata: ["kernel_params": "\(parameters)"])
    }

    public func cleanUpRamdisk(_ task: NodeTask) async throws {
        try await dhcp.clean(task)
        try ramdisk.removeMACEntries(task)
        try BootFiles.removeTree(files.nodeDirectory(task.node.uuid))
    }

    public func prepareInstance(_ task: NodeTask) async throws {
        let uuid = task.node.uuid
        try ramdisk.removeMACEntries(task)
        try BootFiles.removeTree(files.nodeDirectory(uuid))
        try writeDefaultConfig()
        guard settings.enableNetbootFallback else { return }
        try BootFiles.write(localBootConfig(uuid), to: files.nodeConfig(uuid))
        for mac in ramdisk.macs(task) {
            try BootFiles.symlink(files.pxelinuxMACEntry(mac), to: "../\(uuid)/config")
        }
    }

    public func cleanUpInstance(_ task: NodeTask) async throws {
        try ramdisk.removeMACEntries(task)
        try BootFiles.removeTree(files.nodeDirectory(task.node.uuid))
    }

    // MARK: Configs

    /// The node's pxelinux config: the ramdisk, paths relative to `tftp_root` (where
    /// pxelinux.0 is, so where pxelinux resolves them).
    func config(_ uuid: String, kernel: String, ramdisk: String, parameters: String) -> String {
        """
        # Written by ironic for node \(uuid): its ramdisk, booted by PXELINUX.
        default deploy

        label deploy
          kernel \(uuid)/\(kernel)
          append initrd=\(uuid)/\(ramdisk) \(parameters)
          ipappend 2

        """
    }

    /// A deployed node's config with `[pxe] enable_netboot_fallback`: boot from the disk.
    func localBootConfig(_ uuid: String) -> String {
        """
        # Written by ironic for node \(uuid): the instance boots from its disk.
        default disk

        label disk
          localboot 0

        """
    }

    /// `pxelinux.cfg/default`: what a machine without an entry of its own boots.
    static let defaultConfig = """
        # Written by ironic: a machine without a config of its own boots from its disk.
        # ironic writes this file only when it is missing; replace it to change that.
        default disk

        label disk
          localboot 0

        """

    /// `tftp_root/pxelinux.cfg/default`.
    var defaultConfigPath: String { "\(files.macDirectory)/default" }

    /// Writes `pxelinux.cfg/default` unless an operator's (or an earlier) one is there.
    func writeDefaultConfig() throws(BootFileError) {
        guard !FileManager.default.fileExists(atPath: defaultConfigPath) else { return }
        try BootFiles.write(Self.defaultConfig, to: defaultConfigPath)
    }

    // MARK: Boot mode

    /// Rejects a node that asks for UEFI: PXELINUX boots only legacy BIOS machines.
    static func checkBootMode(_ node: Node) throws(IronicError) {
        guard requestedBootMode(node) == "uefi" else { return }
        throw .invalidParameterValue(
            "Node \(node.uuid) boots in UEFI mode, but the pxe boot interface only boots legacy BIOS machines through PXELINUX; "
                + "set its boot_mode capability to bios, or use the ipxe boot interface")
    }

    /// The boot mode a node asks for, in Ironic's order: secure boot or `boot_mode` in
    /// `instance_info.capabilities`, `instance_info.deploy_boot_mode`, `boot_mode` in
    /// `properties.capabilities`, `driver_internal_info.deploy_boot_mode`, the node's
    /// `boot_mode`; nil when none says (`pxe` then boots it as BIOS).
    static func requestedBootMode(_ node: Node) -> String? {
        let instance = capabilities(node.instanceInfo["capabilities"])
        if let secure = instance["secure_boot"], ["true", "on", "yes", "1"].contains(secure.lowercased()) { return "uefi" }
        let candidates = [
            instance["boot_mode"], node.instanceInfo["deploy_boot_mode"]?.stringValue,
            capabilities(node.properties["capabilities"])["boot_mode"], node.driverInternalInfo["deploy_boot_mode"]?.stringValue,
            node.bootMode,
        ]
        for case let mode? in candidates {
            let mode = mode.trimmingCharacters(in: .whitespaces).lowercased()
            if mode == "uefi" || mode == "bios" { return mode }
        }
        return nil
    }

    /// Capabilities as `key:value,key:value`, a JSON object, or a JSON object in a string.
    static func capabilities(_ value: JSONValue?) -> [String: String] {
        switch value {
        case .object(let object)?:
            return object.compactMapValues { value in
                switch value {
                case .string(let text): text
                case .bool(let flag): flag ? "true" : "false"
                default: nil
                }
            }
        case .string(let text)?:
            let text = text.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("{"), let parsed = try? JSONValue.parse(Array(text.utf8)), case .object = parsed {
                return capabilities(parsed)
            }
            var result: [String: String] = [:]
            for entry in text.split(separator: ",") {
                let pair = entry.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if pair.count == 2 { result[pair[0]] = pair[1] }
            }
            return result
        default:
            return [:]
        }
    }

    // MARK: Boot loaders

    /// The boot loader files `tftp_root` needs.
    func loaders() -> PXELoaders {
        PXELoaders(root: files.root, paths: settings.loaderFilePaths, bootfile: settings.pxeBootfileName)
    }
}

/// The boot loader files in `tftp_root`: copied from `[pxe] loader_file_paths` (Debian's
/// PXELINUX by default), or installed there by the operator.
struct PXELoaders: Sendable {
    /// `[pxe] tftp_root`.
    let root: String
    /// Name in `tftp_root` → file on the conductor.
    let paths: [String: String]
    /// `[pxe] pxe_bootfile_name`: must be in `tftp_root` once the loaders are installed.
    let bootfile: String

    /// Fails when a loader is neither in `tftp_root` nor at its source.
    func check() throws(IronicError) {
        for (name, source) in paths.sorted(by: { $0.key < $1.key }) where !exists(name) && !exists(absolute: source) {
            throw missing(name, source: source)
        }
        guard exists(bootfile) || paths[bootfile] != nil else { throw missingBootfile() }
    }

    /// Copies every loader whose source exists and differs from the copy in `tftp_root`.
    func install() throws {
        for (name, source) in paths.sorted(by: { $0.key < $1.key }) {
            let target = "\(root)/\(name)"
            guard let wanted = FileManager.default.contents(atPath: source) else {
                if exists(name) { continue }  // installed by the operator
                throw missing(name, source: source)
            }
            if FileManager.default.contents(atPath: target) == wanted { continue }
            try BootFiles.copy(target, from: source)
        }
        guard exists(bootfile) else { throw missingBootfile() }
    }

    private func exists(_ name: String) -> Bool { exists(absolute: "\(root)/\(name)") }
    private func exists(absolute path: String) -> Bool { FileManager.default.isReadableFile(atPath: path) }

    private func missing(_ name: String, source: String) -> IronicError {
        .invalidParameterValue(
            "The pxe boot interface needs \(name) in [pxe] tftp_root (\(root)), copied from \(source), which does not exist: "
                + "install Debian's pxelinux and syslinux-common packages (apt-get install pxelinux syslinux-common), "
                + "or set [pxe] loader_file_paths")
    }

    private func missingBootfile() -> IronicError {
        .invalidParameterValue(
            "DHCP names [pxe] pxe_bootfile_name = \(bootfile), which is not in [pxe] tftp_root (\(root)) "
                + "and not among [pxe] loader_file_paths")
    }
}
