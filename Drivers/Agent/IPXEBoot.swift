import Core
import Logging

/// `ipxe` boot: per-node iPXE scripts chosen by MAC, with the deploy kernel and ramdisk,
/// served by the conductor's boot file server (Ironic's `ipxe` boot interface).
///
/// The chain a machine follows: DHCP names `http_url/boot.ipxe` → `boot.ipxe` chains to
/// `http_url/pxelinux.cfg/<mac>` (`${mac:hexhyp}`) → that link leads to the node's
/// `http_url/<node uuid>/config` → which loads `deploy_kernel` and `deploy_ramdisk` from the
/// same directory and boots them with the agent's kernel parameters.
///
/// `prepareInstance` (a whole-disk image, booting from its disk) removes the node's script
/// and MAC links, as Ironic does without `[pxe] enable_netboot_fallback`: the conductor sets
/// the boot device to `disk`, and a machine that still network-boots finds no script, so
/// `boot.ipxe` leaves iPXE and the firmware goes on to the disk.
public struct IPXEBoot: BootInterface {
    public let name = "ipxe"
    let settings: DeployConfig
    let files: BootFiles
    let ramdisk: BootRamdisk
    let dhcp: any DHCPProvider

    /// Creates the interface over `[deploy]`/`[pxe]`/`[dhcp]` settings, with a cache of its own.
    public init(settings: DeployConfig) {
        self.init(settings: settings, images: ImageCache(settings: settings, logger: Logger(label: "ironic.boot")))
    }

    /// Creates the interface sharing `images` (one cache per process keeps downloads shared).
    public init(settings: DeployConfig, images: ImageCache, dhcp: (any DHCPProvider)? = nil) {
        self.settings = settings
        self.files = BootFiles(settings: settings)
        self.ramdisk = BootRamdisk(settings: settings, files: files, images: images)
        self.dhcp = dhcp ?? DHCPProviders.configured(settings)
    }

    public var properties: [String: String] { BootRamdisk.properties }

    public var ramdiskBootDevice: BootDevice { .pxe }

    public func validate(_ task: NodeTask) async throws {
        try BootRamdisk.validate(task, settings: settings)
    }

    public func prepareRamdisk(_ task: NodeTask, purpose: RamdiskPurpose) async throws {
        let uuid = task.node.uuid
        let parameters = try BootRamdisk.kernelParameters(task.node, settings: settings, purpose: purpose)
        try files.writeBootScript()
        let names = try await ramdisk.fetch(task, purpose: purpose)
        try BootFiles.write(script(uuid, kernel: names.kernel, ramdisk: names.ramdisk, parameters: parameters), to: files.nodeConfig(uuid))
        for mac in ramdisk.macs(task) {
            try BootFiles.symlink(files.ipxeMACEntry(mac), to: "../\(uuid)/config")
        }
        try await dhcp.update(task, loader: .ipxe)
        task.logger.info("iPXE boot of the \(purpose.rawValue) ramdisk prepared", metadata: ["kernel_params": "\(parameters)"])
    }

    public func cleanUpRamdisk(_ task: NodeTask) async throws {
        try await dhcp.clean(task)
        try ramdisk.removeMACEntries(task)
        try BootFiles.removeTree(files.nodeDirectory(task.node.uuid))
    }

    public func prepareInstance(_ task: NodeTask) async throws {
        try ramdisk.removeMACEntries(task)
        // The script and the ramdisk's links go, so their master copies can be evicted.
        try BootFiles.removeTree(files.nodeDirectory(task.node.uuid))
    }

    public func cleanUpInstance(_ task: NodeTask) async throws {
        try ramdisk.removeMACEntries(task)
        try BootFiles.removeTree(files.nodeDirectory(task.node.uuid))
    }

    /// The node's iPXE script: kernel and ramdisk from its directory, retried a few times
    /// (a conductor restarting), then a power off rather than a machine stuck in a loop.
    func script(_ uuid: String, kernel: String, ramdisk: String, parameters: String) -> String {
        """
        #!ipxe
        # Written by ironic for node \(uuid).

        set tries:int32 0

        :load
        imgfree
        kernel \(files.nodeFileURL(uuid, kernel)) \(parameters) BOOTIF=${mac} initrd=\(ramdisk) || goto again
        initrd \(files.nodeFileURL(uuid, ramdisk)) || goto again
        boot

        :again
        iseq ${tries} 10 && goto give_up ||
        inc tries
        echo Could not load the ramdisk of node \(uuid); next try in ${tries} s.
        sleep ${tries}
        goto load

        :give_up
        echo The ramdisk of node \(uuid) could not be loaded; powering off in 30 s.
        sleep 30
        poweroff

        """
    }
}
