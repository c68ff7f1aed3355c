@testable import AgentDrivers
import Core
import Foundation
import Logging
import Testing

/// The `pxe` boot interface: PXELINUX configs and MAC links under `[pxe] tftp_root`, boot
/// loaders copied in, clean-up, validation and the `[pxe]` options.
@Suite("PXE boot", .timeLimit(.minutes(1)))
struct PXEBootTests {
    static let macs = ["52:54:00:aa:bb:01", "52:54:00:AA:BB:02"]

    /// A scratch directory with stand-ins for the deploy kernel and ramdisk and for the
    /// PXELINUX files of Debian's packages, removed afterwards.
    final class Scratch: @unchecked Sendable {
        let directory: String
        var settings = DeployConfig()

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("pxe-boot-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: "\(directory)/images", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: "\(directory)/loaders", withIntermediateDirectories: true)
            for (name, text) in [
                ("images/ipa.kernel", "kernel"), ("images/ipa.initramfs", "ramdisk"),
                ("loaders/pxelinux.0", "pxelinux"), ("loaders/ldlinux.c32", "ldlinux"),
            ] {
                try Data(text.utf8).write(to: URL(fileURLWithPath: "\(directory)/\(name)"))
            }
            settings.tftpRoot = "\(directory)/tftpboot"
            settings.httpRoot = "\(directory)/httpboot"
            settings.apiURL = "http://10.0.2.2:6385"
            settings.kernelAppendParams = "nofb nomodeset"
            settings.loaderFilePaths = [
                "pxelinux.0": "\(directory)/loaders/pxelinux.0", "ldlinux.c32": "\(directory)/loaders/ldlinux.c32",
            ]
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }

        var tftp: String { settings.tftpRoot }
        var boot: PXEBoot { PXEBoot(settings: settings, logger: Logger(label: "pxe-boot-test")) }

        /// A task for a node with the scratch ramdisk and a pxe-enabled port per MAC (plus
        /// one port that is not pxe-enabled).
        func task(macs: [String] = PXEBootTests.macs, driverInfo: [String: JSONValue] = [:]) -> NodeTask {
            var node = Node(driver: "ipmi")
            node.driverInfo["deploy_kernel"] = .string("\(directory)/images/ipa.kernel")
            node.driverInfo["deploy_ramdisk"] = .string("file://\(directory)/images/ipa.initramfs")
            for (key, value) in driverInfo { node.driverInfo[key] = value }
            let task = NodeTask(node: node, conductor: "pxe-boot-test", isShared: false, logger: Logger(label: "pxe-boot-test"))
            var ports = macs.map { NodePort(address: $0, nodeUUID: node.uuid) }
            var other = NodePort(address: "52:54:00:aa:bb:99", nodeUUID: node.uuid)
            other.pxeEnabled = false
            ports.append(other)
            task.setPorts(ports)
            return task
        }

        func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: "\(tftp)/\(relative)") }
        func read(_ relative: String) -> String? { try? String(contentsOfFile: "\(tftp)/\(relative)", encoding: .utf8) }
        func link(_ relative: String) -> String? { try? FileManager.default.destinationOfSymbolicLink(atPath: "\(tftp)/\(relative)") }
        func entries() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: "\(tftp)/pxelinux.cfg")) ?? []).sorted() }
    }

    @Test func prepareRamdiskWritesTheConfigTheLinksAndTheFiles() async throws {
        let scratch = try Scratch()
        let task = scratch.task(driverInfo: ["kernel_append_params": "console=ttyS0 %default%"])
        let uuid = task.node.uuid
        try await scratch.boot.prepareRamdisk(task, purpose: .clean)

        #expect(
            scratch.read("\(uuid)/config") == """
                # Written by ironic for node \(uuid): its ramdisk, booted by PXELINUX.
                default deploy

                label deploy
                  kernel \(uuid)/deploy_kernel
                  append initrd=\(uuid)/deploy_ramdisk console=ttyS0 nofb nomodeset ipa-api-url=http://10.0.2.2:6385 ipa-insecure=1
                  ipappend 2

                """)
        // One link per pxe-enabled MAC, pxelinux's name for it (ARP type 01, lower case).
        #expect(scratch.entries() == ["01-52-54-00-aa-bb-01", "01-52-54-00-aa-bb-02", "default"])
        #expect(scratch.link("pxelinux.cfg/01-52-54-00-aa-bb-01") == "../\(uuid)/config")
        #expect(scratch.link("pxelinux.cfg/01-52-54-00-aa-bb-02") == "../\(uuid)/config")
        #expect(scratch.read("pxelinux.cfg/01-52-54-00-aa-bb-01")?.hasPrefix("# Written by ironic for node \(uuid)") == true)
        #expect(scratch.read("pxelinux.cfg/default")?.contains("localboot 0") == true)
        // Kernel and ramdisk as hard links into the TFTP cache; the loaders copied in.
        #expect(scratch.read("\(uuid)/deploy_kernel") == "kernel")
        #expect(scratch.read("\(uuid)/deploy_ramdisk") == "ramdisk")
        let cached = try FileManager.default.contentsOfDirectory(atPath: "\(scratch.tftp)/master_images").filter { !$0.hasPrefix(".") }
        #expect(cached.count == 2)
        let links = try FileManager.default.attributesOfItem(atPath: "\(scratch.tftp)/\(uuid)/deploy_kernel")[.referenceCount] as? Int
        #expect(links == 2)
        #expect(scratch.read("pxelinux.0") == "pxelinux")
        #expect(scratch.read("ldlinux.c32") == "ldlinux")
        #expect(!FileManager.default.fileExists(atPath: scratch.settings.httpRoot), "nothing under http_root")
    }

    @Test func inspectionAndRescueUseTheirOwnParametersAndFiles() async throws {
        let scratch = try Scratch()
        let task = scratch.task(driverInfo: [
            "rescue_kernel": .string("\(scratch.directory)/images/ipa.kernel"),
            "rescue_ramdisk": .string("\(scratch.directory)/images/ipa.initramfs"),
        ])
        let uuid = task.node.uuid
        try await scratch.boot.prepareRamdisk(task, purpose: .inspect)
        #expect(scratch.read("\(uuid)/config")?.contains("ipa-inspection-callback-url=http://10.0.2.2:6385/v1/continue_inspection") == true)
        try await scratch.boot.prepareRamdisk(task, purpose: .rescue)
        let config = try #require(scratch.read("\(uuid)/config"))
        #expect(config.contains("kernel \(uuid)/rescue_kernel\n"))
        #expect(config.contains("append initrd=\(uuid)/rescue_ramdisk "))
        #expect(scratch.read("\(uuid)/rescue_kernel") == "kernel")
    }

    @Test func cleanUpRamdiskRemovesTheNodesFilesOnly() async throws {
        let scratch = try Scratch()
        let boot = scratch.boot
        let task = scratch.task()
        let other = scratch.task(macs: ["52:54:00:cc:dd:01"])
        try await boot.prepareRamdisk(task, purpose: .deploy)
        try await boot.prepareRamdisk(other, purpose: .deploy)
        // A link left from a port since deleted still leads into the node's directory.
        try BootFiles.symlink("\(scratch.tftp)/pxelinux.cfg/01-52-54-00-ee-ee-ee", to: "../\(task.node.uuid)/config")

        try await boot.cleanUpRamdisk(task)
        #expect(scratch.entries() == ["01-52-54-00-cc-dd-01", "default"])
        #expect(!scratch.exists(task.node.uuid))
        #expect(scratch.exists("\(other.node.uuid)/config"))
        #expect(scratch.exists("pxelinux.0") && scratch.exists("ldlinux.c32"))
        try await boot.cleanUpRamdisk(task)  // twice is fine
    }

    @Test func prepareInstanceLeavesTheMachineToTheDefaultConfig() async throws {
        let scratch = try Scratch()
        let boot = scratch.boot
        let task = scratch.task()
        try await boot.prepareRamdisk(task, purpose: .deploy)
        try await boot.prepareInstance(task)
        #expect(scratch.entries() == ["default"])
        #expect(!scratch.exists(task.node.uuid))
        #expect(
            scratch.read("pxelinux.cfg/default")?.contains("default disk\n\nlabel disk\n  localboot 0\n") == true)
        try await boot.cleanUpInstance(task)
        #expect(scratch.entries() == ["default"])
    }

    @Test func anOperatorsDefaultConfigIsKept() async throws {
        let scratch = try Scratch()
        try BootFiles.write("default menu\n", to: "\(scratch.tftp)/pxelinux.cfg/default")
        let task = scratch.task()
        try await scratch.boot.prepareRamdisk(task, purpose: .deploy)
        try await scratch.boot.prepareInstance(task)
        #expect(scratch.read("pxelinux.cfg/default") == "default menu\n")
    }

    @Test func netbootFallbackKeepsABootFromDiskConfigPerNode() async throws {
        let scratch = try Scratch()
        scratch.settings.enableNetbootFallback = true
        let boot = scratch.boot
        let task = scratch.task()
        let uuid = task.node.uuid
        try await boot.prepareRamdisk(task, purpose: .deploy)
        try await boot.prepareInstance(task)
        #expect(
            scratch.read("\(uuid)/config") == """
                # Written by ironic for node \(uuid): the instance boots from its disk.
                default disk

                label disk
                  localboot 0

                """)
        #expect(scratch.link("pxelinux.cfg/01-52-54-00-aa-bb-01") == "../\(uuid)/config")
        #expect(!scratch.exists("\(uuid)/deploy_kernel"), "the ramdisk's files go")
        try await boot.cleanUpInstance(task)
        #expect(scratch.entries() == ["default"])
        #expect(!scratch.exists(uuid))
    }

    @Test func loadersAreRecopiedWhenTheirSourceChanges() async throws {
        let scratch = try Scratch()
        let task = scratch.task()
        try await scratch.boot.prepareRamdisk(task, purpose: .deploy)
        try Data("pxelinux 6.05".utf8).write(to: URL(fileURLWithPath: "\(scratch.directory)/loaders/pxelinux.0"))
        try await scratch.boot.prepareRamdisk(task, purpose: .deploy)
        #expect(scratch.read("pxelinux.0") == "pxelinux 6.05")
    }

    // MARK: Validation

    static func validationError(_ boot: PXEBoot, _ task: NodeTask) async -> IronicError? {
        do {
            try await boot.validate(task)
            return nil
        } catch let error as IronicError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func validatePassesAWellConfiguredBIOSNode() async throws {
        let scratch = try Scratch()
        let task = scratch.task()
        task.updateNode { $0.properties["capabilities"] = .string("boot_mode:bios") }
        #expect(await Self.validationError(scratch.boot, task) == nil)
    }

    @Test func validateNamesMissingRamdiskParameters() async throws {
        let scratch = try Scratch()
        let task = scratch.task()
        task.updateNode { $0.driverInfo["deploy_kernel"] = nil; $0.driverInfo["deploy_ramdisk"] = nil }
        let error = try #require(await Self.validationError(scratch.boot, task))
        #expect(error.status == 400)
        #expect(error.message.contains("Missing are: ['deploy_kernel', 'deploy_ramdisk']"), "\(error.message)")
    }

    @Test func validateRejectsUEFINodes() async throws {
        let scratch = try Scratch()
        for set in [
            { (node: inout Node) in node.properties["capabilities"] = .string("boot_mode:uefi") },
            { (node: inout Node) in node.instanceInfo["deploy_boot_mode"] = .string("uefi") },
            { (node: inout Node) in node.instanceInfo["capabilities"] = .object(["secure_boot": .string("true")]) },
            { (node: inout Node) in node.bootMode = "uefi" },
        ] {
            let task = scratch.task()
            task.updateNode(set)
            let error = try #require(await Self.validationError(scratch.boot, task))
            #expect(error.message.contains("only boots legacy BIOS machines through PXELINUX"), "\(error.message)")
            await #expect(throws: IronicError.self) { try await scratch.boot.prepareRamdisk(task, purpose: .deploy) }
        }
        // instance_info comes before properties, as in Ironic.
        let task = scratch.task()
        task.updateNode {
            $0.properties["capabilities"] = .string("boot_mode:uefi")
            $0.instanceInfo["deploy_boot_mode"] = .string("bios")
        }
        #expect(await Self.validationError(scratch.boot, task) == nil)
    }

    @Test func validateNeedsAPXEEnabledPort() async throws {
        let scratch = try Scratch()
        let task = scratch.task(macs: [])
        let error = try #require(await Self.validationError(scratch.boot, task))
        #expect(error.message.contains("does not have any port associated with it with pxe_enabled set"))
    }

    @Test func missingLoadersNameThePackages() async throws {
        let scratch = try Scratch()
        scratch.settings.loaderFilePaths["ldlinux.c32"] = "\(scratch.directory)/nowhere/ldlinux.c32"
        let task = scratch.task()
        let error = try #require(await Self.validationError(scratch.boot, task))
        #expect(error.message.contains("needs ldlinux.c32 in [pxe] tftp_root"), "\(error.message)")
        #expect(error.message.contains("pxelinux and syslinux-common"))
        do {
            try await scratch.boot.prepareRamdisk(task, purpose: .deploy)
            Issue.record("prepareRamdisk succeeded without ldlinux.c32")
        } catch let error as IronicError {
            #expect(error.message.contains("pxelinux and syslinux-common"))
        }
        #expect(!scratch.exists(task.node.uuid), "nothing written for the node")

        // A loader the operator installed in tftp_root is enough.
        try BootFiles.write("ldlinux", to: "\(scratch.tftp)/ldlinux.c32")
        #expect(await Self.validationError(scratch.boot, task) == nil)
        try await scratch.boot.prepareRamdisk(task, purpose: .deploy)
    }

    @Test func theBootFileDHCPNamesMustBeThere() async throws {
        let scratch = try Scratch()
        scratch.settings.pxeBootfileName = "lpxelinux.0"
        let error = try #require(await Self.validationError(scratch.boot, scratch.task()))
        #expect(error.message.contains("pxe_bootfile_name = lpxelinux.0"), "\(error.message)")
    }

    @Test func validateNeedsATFTPRoot() async throws {
        let scratch = try Scratch()
        scratch.settings.tftpRoot = ""
        let error = try #require(await Self.validationError(scratch.boot, scratch.task()))
        #expect(error.message.contains("[pxe] tftp_root"))
    }

    @Test func theInterfaceDescribesItself() throws {
        let scratch = try Scratch()
        let boot = scratch.boot
        #expect(boot.name == "pxe" && PXEBoot.kind == .boot)
        #expect(boot.ramdiskBootDevice == .pxe)
        #expect(boot.properties["deploy_kernel"]?.hasSuffix("Required.") == true)
    }

    // MARK: DHCP and configuration

    @Test func dnsmasqNamesTheBootFileAndTheTFTPServer() {
        #expect(
            DnsmasqDHCPProvider.options(tag: "t1", loader: .pxelinux, bootScriptURL: "http://h/boot.ipxe", uefi: false)
                == ["tag:t1,67,pxelinux.0"])
        #expect(
            DnsmasqDHCPProvider.options(
                tag: "t1", loader: .pxelinux, bootScriptURL: "http://h/boot.ipxe", uefi: false, pxeBootfile: "pxelinux.0",
                tftpServer: "192.0.2.1")
                == [
                    "tag:t1,67,pxelinux.0", "tag:t1,66,192.0.2.1", "tag:t1,150,192.0.2.1",
                    "tag:t1,option:server-ip-address,192.0.2.1",
                ])
    }

    @Test func dnsmasqProviderWritesThePXEOptions() async throws {
        let scratch = try Scratch()
        scratch.settings.dhcpProvider = "dnsmasq"
        scratch.settings.dnsmasqHostsDirectory = "\(scratch.directory)/dnsmasq/hosts"
        scratch.settings.dnsmasqOptionsDirectory = "\(scratch.directory)/dnsmasq/opts"
        let task = scratch.task()
        try await scratch.boot.prepareRamdisk(task, purpose: .deploy)
        let tag = try #require(task.node.driverInternalInfo["dnsmasq_tag"]?.stringValue)
        let options = try String(contentsOfFile: "\(scratch.directory)/dnsmasq/opts/ironic-\(task.node.uuid).conf", encoding: .utf8)
        #expect(options == "tag:\(tag),67,pxelinux.0\n")
        let host = try String(contentsOfFile: "\(scratch.directory)/dnsmasq/hosts/ironic-52:54:00:aa:bb:01.conf", encoding: .utf8)
        #expect(host.hasPrefix("52:54:00:aa:bb:01,set:\(tag)"))
    }

    @Test func pxeOptionsAreRead() throws {
        let config = try IronicConfig(
            ini: try INIFile(
                parsing: """
                    [pxe]
                    tftp_root = /srv/tftp
                    tftp_master_path = /srv/tftp/cache
                    tftp_server = 192.0.2.1
                    pxe_bootfile_name = bios/pxelinux.0
                    loader_file_paths = bios/pxelinux.0:/opt/syslinux/pxelinux.0, bios/ldlinux.c32:/opt/syslinux/ldlinux.c32
                    enable_netboot_fallback = true
                    """))
        let pxe = config.deploy
        #expect(pxe.tftpRoot == "/srv/tftp" && pxe.tftpMasterPath == "/srv/tftp/cache" && pxe.tftpServer == "192.0.2.1")
        #expect(pxe.pxeBootfileName == "bios/pxelinux.0")
        #expect(pxe.loaderFilePaths == ["bios/pxelinux.0": "/opt/syslinux/pxelinux.0", "bios/ldlinux.c32": "/opt/syslinux/ldlinux.c32"])
        #expect(pxe.enableNetbootFallback)
        #expect(PXEBoot.files(pxe).masterDirectory == "/srv/tftp/cache")

        let defaults = DeployConfig()
        #expect(defaults.tftpRoot == "var/tftpboot" && defaults.pxeBootfileName == "pxelinux.0" && !defaults.enableNetbootFallback)
        #expect(defaults.loaderFilePaths["pxelinux.0"] == "/usr/lib/PXELINUX/pxelinux.0")
        #expect(defaults.loaderFilePaths["ldlinux.c32"] == "/usr/lib/syslinux/modules/bios/ldlinux.c32")
        #expect(PXEBoot.files(defaults).masterDirectory == "var/tftpboot/master_images")

        for bad in ["tftp_master_path =", "pxe_bootfile_name = ../pxelinux.0", "loader_file_paths = pxelinux.0", "loader_file_paths = a:relative"] {
            #expect(throws: ConfigError.self, "\(bad)") { try IronicConfig(ini: try INIFile(parsing: "[pxe]\n\(bad)\n")) }
        }
    }
}
