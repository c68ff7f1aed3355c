@testable import AgentDrivers
import Core
import Foundation
import Logging
import Testing

/// The `ipxe` boot interface: `boot.ipxe`, the node's iPXE script and its kernel command
/// line, the per-MAC links, clean-up, validation, and the iPXE options of the `dnsmasq`
/// DHCP provider. Everything runs against a scratch `http_root`; no machine boots.
@Suite("iPXE boot", .timeLimit(.minutes(1)))
struct BootInterfaceTests {
    static let macs = ["52:54:00:aa:bb:01", "52:54:00:AA:BB:02"]

    /// A scratch directory with stand-ins for the deploy and rescue kernels and ramdisks,
    /// removed afterwards.
    final class Scratch: @unchecked Sendable {
        let directory: String
        var settings = DeployConfig()

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("ipxe-boot-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: "\(directory)/images", withIntermediateDirectories: true)
            for (name, text) in [
                ("ipa.kernel", "deploy kernel"), ("ipa.initramfs", "deploy ramdisk"),
                ("rescue.kernel", "rescue kernel"), ("rescue.initramfs", "rescue ramdisk"),
            ] {
                try Data(text.utf8).write(to: URL(fileURLWithPath: "\(directory)/images/\(name)"))
            }
            settings.httpRoot = "\(directory)/httpboot"
            // A trailing slash, as operators write it: the scripts must not say `//`.
            settings.httpURL = "http://192.0.2.10:8088/"
            settings.apiURL = "http://10.0.2.2:6385"
            settings.kernelAppendParams = "nofb nomodeset"
            settings.dnsmasqHostsDirectory = "\(directory)/dnsmasq/hosts"
            settings.dnsmasqOptionsDirectory = "\(directory)/dnsmasq/opts"
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }

        var root: String { settings.httpRoot }
        var boot: IPXEBoot { IPXEBoot(settings: settings) }

        /// A task for a node with the scratch ramdisks, a pxe-enabled port per MAC, one port
        /// that is not pxe-enabled and one whose address is no MAC.
        func task(macs: [String] = BootInterfaceTests.macs, driverInfo: [String: JSONValue] = [:]) -> NodeTask {
            var node = Node(driver: "ipmi")
            node.driverInfo["deploy_kernel"] = .string("\(directory)/images/ipa.kernel")
            node.driverInfo["deploy_ramdisk"] = .string("file://\(directory)/images/ipa.initramfs")
            for (key, value) in driverInfo { node.driverInfo[key] = value }
            let task = NodeTask(node: node, conductor: "ipxe-boot-test", isShared: false, logger: Logger(label: "ipxe-boot-test"))
            var ports = macs.map { NodePort(address: $0, nodeUUID: node.uuid) }
            var disabled = NodePort(address: "52:54:00:aa:bb:99", nodeUUID: node.uuid)
            disabled.pxeEnabled = false
            ports.append(disabled)
            if !macs.isEmpty { ports.append(NodePort(address: "../../etc/passwd", nodeUUID: node.uuid)) }
            task.setPorts(ports)
            return task
        }

        func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: "\(root)/\(relative)") }
        func read(_ relative: String) -> String? { try? String(contentsOfFile: "\(root)/\(relative)", encoding: .utf8) }
        func link(_ relative: String) -> String? { try? FileManager.default.destinationOfSymbolicLink(atPath: "\(root)/\(relative)") }
        func entries() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: "\(root)/pxelinux.cfg")) ?? []).sorted() }
        func linkCount(_ relative: String) -> Int? {
            try? FileManager.default.attributesOfItem(atPath: "\(root)/\(relative)")[.referenceCount] as? Int
        }
        func masters() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "\(root)/master_images")) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        }
        func hostFile(_ mac: String) -> String? {
            try? String(contentsOfFile: "\(settings.dnsmasqHostsDirectory)/ironic-\(mac).conf", encoding: .utf8)
        }
        func optionsFile(_ uuid: String) -> String? {
            try? String(contentsOfFile: "\(settings.dnsmasqOptionsDirectory)/ironic-\(uuid).conf", encoding: .utf8)
        }
    }

    // MARK: prepareRamdisk

    @Test func prepareRamdiskWritesTheBootScriptTheNodeScriptAndTheFiles() async throws {
        let scratch = try Scratch()
        let task = scratch.task()
        let uuid = task.node.uuid
        try await scratch.boot.prepareRamdisk(task, purpose: .deploy)

        let bootScript = try #require(scratch.read("boot.ipxe"))
        #expect(bootScript.hasPrefix("#!ipxe\n"))
        #expect(bootScript.contains("chain http://192.0.2.10:8088/pxelinux.cfg/${mac:hexhyp} || goto each_nic\n"), "\(bootScript)")
        #expect(bootScript.contains("chain http://192.0.2.10:8088/pxelinux.cfg/${net${nic}/mac:hexhyp} || goto next_nic\n"))
        #expect(bootScript.contains(":no_script") && bootScript.contains("exit 1"), "no script: leave iPXE for the next device")

        let config = try #require(scratch.read("\(uuid)/config"))
        #expect(config.hasPrefix("#!ipxe\n"))
        let lines = config.split(separator: "\n").map(String.init)
        #expect(
            lines.contains(
                "kernel http://192.0.2.10:8088/\(uuid)/deploy_kernel nofb nomodeset ipa-api-url=http://10.0.2.2:6385 ipa-insecure=1"
                    + " BOOTIF=${mac} initrd=deploy_ramdisk || goto again"), "\(config)")
        #expect(lines.contains("initrd http://192.0.2.10:8088/\(uuid)/deploy_ramdisk || goto again"), "\(config)")
        #expect(lines.contains("boot"))
        #expect(!config.contains("ipa-inspection-callback-url"), "only inspection calls back with its inventory")
        #expect(!config.contains("//\(uuid)"))

        // The kernel and ramdisk: hard links into the content-addressed cache.
        #expect(scratch.read("\(uuid)/deploy_kernel") == "deploy kernel")
        #expect(scratch.read("\(uuid)/deploy_ramdisk") == "deploy ramdisk")
        #expect(scratch.masters() == [ImageHashers.sha256(of: "deploy kernel"), ImageHashers.sha256(of: "deploy ramdisk")].sorted())
        #expect(scratch.linkCount("\(uuid)/deploy_kernel") == 2)
        #expect(scratch.linkCount("\(uuid)/deploy_ramdisk") == 2)
    }

    @Test func macLinksAreWrittenForPXEEnabledPortsOnly() async throws {
        let scratch = try Scratch()
        let task = scratch.task()
        let uuid = task.node.uuid
        try await scratch.boot.prepareRamdisk(task, purpose: .clean)
        // iPXE's `${mac:hexhyp}`: lower case, hyphens, no ARP type prefix. Not the port that is
        // not pxe-enabled, and never an address that is no MAC.
        #expect(scratch.entries() == ["52-54-00-aa-bb-01", "52-54-00-aa-bb-02"])
        #expect(scratch.link("pxelinux.cfg/52-54-00-aa-bb-01") == "../\(uuid)/config")
        #expect(scratch.link("pxelinux.cfg/52-54-00-aa-bb-02") == "../\(uuid)/config")
        // The relative link resolves to the node's script through the HTTP server's root.
        #expect(scratch.read("pxelinux.cfg/52-54-00-aa-bb-01") == scratch.read("\(uuid)/config"))
        #expect(!FileManager.default.fileExists(atPath: "\(scratch.directory)/etc"))
    }

    @Test func aNodeWithoutPXEPortsGetsItsScriptButNoLinks() async throws {
        let scratch = try Scratch()
        let task = scratch.task(macs: [])
        try await scratch.boot.prepareRamdisk(task, purpose: .deploy)
        #expect(scratch.exists("\(task.node.uuid)/config"))
        #expect(scratch.entries().isEmpty)
    }

    @Test func preparingAgainReplacesTheScript() async throws {
        let scratch = try Scratch()
        let task = scratch.task()
        let uuid = task.node.uuid
        try await scratch.boot.prepareRamdisk(task, purpose: .deploy)
        task.updateNode { $0.driverInfo["kernel_append_params"] = .string("console=ttyS0") }
        try await scratch.boot.prepareRamdisk(task, purpose: .deploy)
        let config = try #require(scratch.read("\(uuid)/config"))
        #expect(config.contains("/deploy_kernel console=ttyS0 ipa-api-url="), "\(config)")
        #expect(scratch.entries() == ["52-54-00-aa-bb-01", "52-54-00-aa-bb-02"])
        #expect(scratch.read("\(uuid)/deploy_kernel") == "deploy kernel")
        // Linking the same master again: rename(2) of one hard link onto another of the same
        // file does nothing and succeeds; BootFiles.hardLink must still drop its temporary link.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: "\(scratch.root)/\(uuid)").filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "no temporary files left: \(leftovers)")
        #expect(scratch.linkCount("\(uuid)/deploy_kernel") == 2)
    }

    @Test func inspectionAddsItsCallbackURL() async throws {
        let scratch = try Scratch()
        let task = scratch.task()
        try await scratch.boot.prepareRamdisk(task, purpose: .inspect)
        let config = try #require(scratch.read("\(task.node.uuid)/config"))
        #expect(
            config.contains(
                "ipa-api-url=http://10.0.2.2:6385 ipa-insecure=1 ipa-inspection-callback-url=http://10.0.2.2:6385/v1/continue_inspection"
                    + " BOOTIF=${mac}"), "\(config)")
        #expect(config.contains("/deploy_kernel "), "inspection boots the deploy ramdisk")
    }

    @Test func rescueBootsTheRescueKernelAndRamdisk() async throws {
        let scratch = try Scratch()
        let task = scratch.task(driverInfo: [
            "rescue_kernel": .string("file://\(scratch.directory)/images/rescue.kernel"),
            "rescue_ramdisk": .string("\(scratch.directory)/images/rescue.initramfs"),
        ])
        let uuid = task.node.uuid
        try await scratch.boot.prepareRamdisk(task, purpose: .rescue)
        let config = try #require(scratch.read("\(uuid)/config"))
        #expect(config.contains("kernel http://192.0.2.10:8088/\(uuid)/rescue_kernel nofb nomodeset "), "\(config)")
        #expect(config.contains(" BOOTIF=${mac} initrd=rescue_ramdisk || goto again\n"))
        #expect(config.contains("initrd http://192.0.2.10:8088/\(uuid)/rescue_ramdisk || goto again\n"))
        #expect(!config.contains("deploy_"))
        #expect(scratch.read("\(uuid)/rescue_kernel") == "rescue kernel")
        #expect(scratch.read("\(uuid)/rescue_ramdisk") == "rescue ramdisk")
        #expect(!scratch.exists("\(uuid)/deploy_kernel"))
    }

    @Test func rescueWithoutRescueImagesNamesThem() async throws {
        let scratch = try Scratch()
        let task = scratch.task(driverInfo: ["rescue_kernel": .string("\(scratch.directory)/images/rescue.kernel")])
        let error = await #expect(throws: IronicError.self) { try await scratch.boot.prepareRamdisk(task, purpose: .rescue) }
        #expect(error?.status == 400)
        #expect(error?.code == "MissingParameterValue")
        #expect(error?.message.contains("Missing are: ['rescue_ramdisk']") == true, "\(String(describing: error))")
        #expect(!scratch.exists("\(task.node.uuid)/config"), "nothing written for a ramdisk that cannot boot")
    }

    @Test func aMissingKernelFileFailsThePreparation() async throws {
        let scratch = try Scratch()
        let task = scratch.task(driverInfo: ["deploy_kernel": .string("\(scratch.directory)/images/nowhere.kernel")])
        let error = await #expect(throws: ImageCacheError.self) { try await scratch.boot.prepareRamdisk(task, purpose: .deploy) }
        #expect(error.map { "\($0)" }?.contains("nowhere.kernel") == true, "\(String(describing: error))")
        #expect(!scratch.exists("\(task.node.uuid)/config"))
        #expect(scratch.entries().isEmpty)
    }

    // MARK: The kernel command line

    /// `BootRamdisk.kernelParameters` for a node with `driverInfo`/`instanceInfo` under
    /// `settings` changed by `configure`.
    static func parameters(
        driverInfo: [String: JSONValue] = [:], instanceInfo: [String: JSONValue] = [:], purpose: RamdiskPurpose = .deploy,
        _ configure: (inout DeployConfig) -> Void = { _ in }
    ) throws -> String {
        var settings = DeployConfig()
        settings.apiURL = "http://10.0.2.2:6385"
        settings.kernelAppendParams = "nofb nomodeset"
        configure(&settings)
        var node = Node(driver: "ipmi")
        node.driverInfo = driverInfo
        node.instanceInfo = instanceInfo
        return try BootRamdisk.kernelParameters(node, settings: settings, purpose: purpose)
    }

    @Test func kernelAppendParamsComeFromTheNodeThenTheOption() throws {
        let api = "ipa-api-url=http://10.0.2.2:6385 ipa-insecure=1"
        #expect(try Self.parameters() == "nofb nomodeset \(api)")
        #expect(try Self.parameters(driverInfo: ["kernel_append_params": "console=ttyS0"]) == "console=ttyS0 \(api)", "replaces the option")
        #expect(
            try Self.parameters(driverInfo: ["kernel_append_params": "console=ttyS0 %default% quiet"])
                == "console=ttyS0 nofb nomodeset quiet \(api)")
        #expect(try Self.parameters(driverInfo: ["kernel_append_params": "%default%"]) == "nofb nomodeset \(api)")
        #expect(
            try Self.parameters(
                driverInfo: ["kernel_append_params": "from-driver-info"], instanceInfo: ["kernel_append_params": "from-instance-info"])
                == "from-instance-info \(api)", "instance_info first, as in Ironic")
        #expect(try Self.parameters(driverInfo: ["kernel_append_params": ""]) == api)
        #expect(try Self.parameters({ $0.kernelAppendParams = "" }) == api)
        #expect(try Self.parameters({ $0.kernelAppendParams = "  a   b " }) == "a b \(api)", "extra spaces collapse")
    }

    @Test func theAPIURLAndTheInsecureFlag() throws {
        #expect(
            try Self.parameters({ $0.apiURL = "https://ironic.example:6385/" }) == "nofb nomodeset ipa-api-url=https://ironic.example:6385")
        #expect(
            try Self.parameters({ $0.apiURL = "HTTP://10.0.2.2:6385//" })
                == "nofb nomodeset ipa-api-url=HTTP://10.0.2.2:6385 ipa-insecure=1")
    }

    @Test(arguments: RamdiskPurpose.allCases)
    func onlyInspectionCallsBack(purpose: RamdiskPurpose) throws {
        let line = try Self.parameters(purpose: purpose)
        let callback = "ipa-inspection-callback-url=http://10.0.2.2:6385/v1/continue_inspection"
        #expect(line.hasSuffix(callback) == (purpose == .inspect), "\(purpose): \(line)")
        #expect(line.contains("ipa-api-url=http://10.0.2.2:6385"))
    }

    @Test func theCallbackURLDoesNotRepeatV1() throws {
        let line = try Self.parameters(purpose: .inspect) { $0.apiURL = "https://ironic.example/baremetal/v1/" }
        #expect(line.hasSuffix(" ipa-inspection-callback-url=https://ironic.example/baremetal/v1/continue_inspection"), "\(line)")
    }

    @Test func aKernelCommandLineWithControlCharactersIsRefused() throws {
        for (location, value) in [("driver_info", "console=ttyS0\nkernel http://evil/"), ("instance_info", "a\u{7}b")] {
            let info: [String: JSONValue] = ["kernel_append_params": .string(value)]
            let error = #expect(throws: IronicError.self) {
                _ = try location == "driver_info" ? Self.parameters(driverInfo: info) : Self.parameters(instanceInfo: info)
            }
            #expect(error?.status == 400)
            #expect(error?.message == "node's \(location)['kernel_append_params'] contains malformed kernel command line")
        }
    }

    // MARK: Clean-up

    @Test func cleanUpRamdiskRemovesTheNodesFilesAndLinksOnly() async throws {
        let scratch = try Scratch()
        let boot = scratch.boot
        let task = scratch.task()
        let other = scratch.task(macs: ["52:54:00:cc:dd:01"])
        try await boot.prepareRamdisk(task, purpose: .deploy)
        try await boot.prepareRamdisk(other, purpose: .deploy)
        // A link from a port deleted since still leads into the node's directory.
        try BootFiles.symlink("\(scratch.root)/pxelinux.cfg/52-54-00-ee-ee-ee", to: "../\(task.node.uuid)/config")
        #expect(scratch.entries().count == 4)

        try await boot.cleanUpRamdisk(task)
        #expect(scratch.entries() == ["52-54-00-cc-dd-01"])
        #expect(scratch.link("pxelinux.cfg/52-54-00-cc-dd-01") == "../\(other.node.uuid)/config")
        #expect(!scratch.exists(task.node.uuid))
        #expect(scratch.exists("\(other.node.uuid)/config"))
        #expect(scratch.read("\(other.node.uuid)/deploy_kernel") == "deploy kernel")
        #expect(scratch.exists("boot.ipxe"), "boot.ipxe serves every node")
        #expect(scratch.masters().count == 2, "the cache keeps what other nodes use")
        try await boot.cleanUpRamdisk(task)  // twice is fine
        try await boot.cleanUpRamdisk(scratch.task())  // so is a node never prepared
    }

    @Test func cleanUpFindsLinksOfPortsTheTaskNoLongerCarries() async throws {
        let scratch = try Scratch()
        let task = scratch.task()
        try await scratch.boot.prepareRamdisk(task, purpose: .deploy)
        task.setPorts([])
        try await scratch.boot.cleanUpRamdisk(task)
        #expect(scratch.entries().isEmpty)
        #expect(!scratch.exists(task.node.uuid))
    }

    @Test func prepareInstanceRemovesTheScriptAndTheLinks() async throws {
        let scratch = try Scratch()
        let boot = scratch.boot
        let task = scratch.task()
        let other = scratch.task(macs: ["52:54:00:cc:dd:01"])
        try await boot.prepareRamdisk(task, purpose: .deploy)
        try await boot.prepareRamdisk(other, purpose: .deploy)

        try await boot.prepareInstance(task)
        // A machine still network-booting finds no script and leaves iPXE for its disk.
        #expect(scratch.entries() == ["52-54-00-cc-dd-01"])
        #expect(!scratch.exists("\(task.node.uuid)/config"))
        #expect(scratch.exists("\(other.node.uuid)/config"))
        #expect(scratch.exists("boot.ipxe"))

        try await boot.cleanUpInstance(task)
        #expect(!scratch.exists(task.node.uuid))
        #expect(scratch.entries() == ["52-54-00-cc-dd-01"])
    }

    @Test func prepareInstanceRemovesTheNodesDirectoryAsIronicDoes() async throws {
        let scratch = try Scratch()
        let task = scratch.task()
        try await scratch.boot.prepareRamdisk(task, purpose: .deploy)
        try await scratch.boot.prepareInstance(task)
        // Ironic's clean_up_pxe_config (called by prepare_instance for a whole-disk image
        // without netboot fallback) removes http_root/<uuid> with the deploy kernel and
        // ramdisk in it, as both network boot interfaces here do, so the master copies can
        // be evicted while the node is active.
        #expect(!scratch.exists(task.node.uuid))
    }

    // MARK: Validation

    static func validationError(_ boot: IPXEBoot, _ task: NodeTask) async -> IronicError? {
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

    @Test func validatePassesAWellConfiguredNode() async throws {
        let scratch = try Scratch()
        #expect(await Self.validationError(scratch.boot, scratch.task()) == nil)
        // A task without ports (the API's validate) is not refused for it.
        let bare = scratch.task()
        bare.setPorts([])
        #expect(await Self.validationError(scratch.boot, bare) == nil)
    }

    @Test func validateNamesMissingRamdiskParameters() async throws {
        let scratch = try Scratch()
        for (missing, expected) in [
            (["deploy_kernel"], "['deploy_kernel']"), (["deploy_ramdisk"], "['deploy_ramdisk']"),
            (["deploy_kernel", "deploy_ramdisk"], "['deploy_kernel', 'deploy_ramdisk']"),
        ] {
            let task = scratch.task()
            task.updateNode { node in for key in missing { node.driverInfo[key] = nil } }
            let error = try #require(await Self.validationError(scratch.boot, task))
            #expect(error.status == 400 && error.code == "MissingParameterValue")
            #expect(error.message.hasSuffix("Missing are: \(expected)"), "\(error.message)")
        }
        // An empty string is missing too.
        let task = scratch.task(driverInfo: ["deploy_kernel": ""])
        let error = try #require(await Self.validationError(scratch.boot, task))
        #expect(error.message.contains("Missing are: ['deploy_kernel']"), "\(error.message)")
    }

    @Test(arguments: ["ftp://images.example/ipa.kernel", "images/ipa.kernel", "http://", "glance-image-id"])
    func validateRefusesSourcesItCannotFetch(source: String) async throws {
        let scratch = try Scratch()
        let task = scratch.task(driverInfo: ["deploy_kernel": .string(source)])
        let error = try #require(await Self.validationError(scratch.boot, task), "\(source) accepted")
        #expect(error.status == 400 && error.code == "InvalidParameterValue")
        #expect(error.message.contains("driver_info['deploy_kernel'] = '\(source)'"), "\(error.message)")
    }

    @Test(arguments: [
        "http://images.example/ipa.kernel", "https://images.example:8443/a/b.kernel", "file:///srv/ipa.kernel", "/srv/ipa.kernel",
    ])
    func validateAcceptsURLsAndAbsolutePaths(source: String) async throws {
        let scratch = try Scratch()
        let task = scratch.task(driverInfo: ["deploy_kernel": .string(source)])
        #expect(await Self.validationError(scratch.boot, task) == nil)
    }

    @Test func validateNeedsAPXEEnabledPortWhenThereArePorts() async throws {
        let scratch = try Scratch()
        let task = scratch.task(macs: [])
        let error = try #require(await Self.validationError(scratch.boot, task))
        #expect(error.status == 400)
        #expect(error.message == "Node \(task.node.uuid) does not have any port associated with it with pxe_enabled set")
    }

    @Test func validateNeedsTheHTTPURLAndRoot() async throws {
        for clear in [{ (s: inout DeployConfig) in s.httpURL = "" }, { (s: inout DeployConfig) in s.httpRoot = "" }] {
            let local = try Scratch()
            clear(&local.settings)
            let error = try #require(await Self.validationError(local.boot, local.task()))
            #expect(error.message == "iPXE boot is enabled but no HTTP URL or HTTP root was specified")
        }
    }

    @Test func validateChecksTheKernelCommandLine() async throws {
        let scratch = try Scratch()
        let task = scratch.task(driverInfo: ["kernel_append_params": "console=ttyS0\r"])
        let error = try #require(await Self.validationError(scratch.boot, task))
        #expect(error.message.contains("malformed kernel command line"))
    }

    @Test func theInterfaceDescribesItself() throws {
        let scratch = try Scratch()
        let boot = scratch.boot
        #expect(boot.name == "ipxe")
        #expect(boot.ramdiskBootDevice == .pxe)
        #expect(
            Set(boot.properties.keys) == ["deploy_kernel", "deploy_ramdisk", "rescue_kernel", "rescue_ramdisk", "kernel_append_params"])
    }

    // MARK: dnsmasq, iPXE

    @Test func dnsmasqOptionsChainPlainPXEToIPXEThenToTheBootScript() {
        #expect(
            DnsmasqDHCPProvider.options(tag: "t1", loader: .ipxe, bootScriptURL: "http://192.0.2.10:8088/boot.ipxe", uefi: false)
                == ["tag:t1,tag:!ipxe,67,undionly.kpxe", "tag:t1,tag:ipxe,67,http://192.0.2.10:8088/boot.ipxe"])
        #expect(
            DnsmasqDHCPProvider.options(tag: "t2", loader: .ipxe, bootScriptURL: "http://192.0.2.10:8088/boot.ipxe", uefi: true)
                == ["tag:t2,tag:!ipxe,67,snponly.efi", "tag:t2,tag:ipxe,67,http://192.0.2.10:8088/boot.ipxe"])
        // [pxe] tftp_server concerns PXELINUX only: iPXE fetches over HTTP.
        #expect(
            DnsmasqDHCPProvider.options(
                tag: "t3", loader: .ipxe, bootScriptURL: "http://h/boot.ipxe", uefi: false, tftpServer: "192.0.2.1"
            ).count == 2)
    }

    @Test func dnsmasqEntriesAreWrittenThenRewrittenAsIgnore() async throws {
        let scratch = try Scratch()
        scratch.settings.dhcpProvider = "dnsmasq"
        let boot = scratch.boot
        let task = scratch.task()
        let uuid = task.node.uuid
        try await boot.prepareRamdisk(task, purpose: .deploy)

        let tag = try #require(task.node.driverInternalInfo["dnsmasq_tag"]?.stringValue)
        #expect(UUID(uuidString: tag) != nil && tag == tag.lowercased(), "a fresh UUID: \(tag)")
        #expect(
            scratch.optionsFile(uuid)
                == "tag:\(tag),tag:!ipxe,67,undionly.kpxe\ntag:\(tag),tag:ipxe,67,http://192.0.2.10:8088/boot.ipxe\n")
        #expect(scratch.hostFile("52:54:00:aa:bb:01") == "52:54:00:aa:bb:01,set:\(tag),set:ironic\n")
        #expect(scratch.hostFile("52:54:00:aa:bb:02") == "52:54:00:aa:bb:02,set:\(tag),set:ironic\n", "lower case")
        let hosts = try FileManager.default.contentsOfDirectory(atPath: scratch.settings.dnsmasqHostsDirectory).sorted()
        #expect(hosts == ["ironic-52:54:00:aa:bb:01.conf", "ironic-52:54:00:aa:bb:02.conf"], "pxe-enabled MACs only")

        // Booting the ramdisk again keeps the tag.
        try await boot.prepareRamdisk(task, purpose: .clean)
        #expect(task.node.driverInternalInfo["dnsmasq_tag"]?.stringValue == tag)

        try await boot.cleanUpRamdisk(task)
        // Rewritten, not removed: dnsmasq forgets a removed host file only on SIGHUP.
        #expect(scratch.hostFile("52:54:00:aa:bb:01") == "52:54:00:aa:bb:01,ignore\n")
        #expect(scratch.hostFile("52:54:00:aa:bb:02") == "52:54:00:aa:bb:02,ignore\n")
        #expect(scratch.optionsFile(uuid) == nil)
        #expect(task.node.driverInternalInfo["dnsmasq_tag"] == nil)

        // The next ramdisk boot takes a new tag, and its MACs are answered again.
        try await boot.prepareRamdisk(task, purpose: .deploy)
        let next = try #require(task.node.driverInternalInfo["dnsmasq_tag"]?.stringValue)
        #expect(next != tag)
        #expect(scratch.hostFile("52:54:00:aa:bb:01") == "52:54:00:aa:bb:01,set:\(next),set:ironic\n")
        #expect(scratch.optionsFile(uuid)?.hasPrefix("tag:\(next),tag:!ipxe,67,undionly.kpxe\n") == true)
    }

    @Test func dnsmasqHandsUEFINodesSnponly() async throws {
        let scratch = try Scratch()
        scratch.settings.dhcpProvider = "dnsmasq"
        let task = scratch.task()
        task.updateNode { $0.bootMode = "uefi" }
        try await scratch.boot.prepareRamdisk(task, purpose: .deploy)
        let tag = try #require(task.node.driverInternalInfo["dnsmasq_tag"]?.stringValue)
        #expect(scratch.optionsFile(task.node.uuid)?.hasPrefix("tag:\(tag),tag:!ipxe,67,snponly.efi\n") == true)
    }

    @Test func dnsmasqCleanUpLeavesOtherNodesAlone() async throws {
        let scratch = try Scratch()
        scratch.settings.dhcpProvider = "dnsmasq"
        let boot = scratch.boot
        let task = scratch.task()
        let other = scratch.task(macs: ["52:54:00:cc:dd:01"])
        try await boot.prepareRamdisk(task, purpose: .deploy)
        try await boot.prepareRamdisk(other, purpose: .deploy)
        let otherTag = try #require(other.node.driverInternalInfo["dnsmasq_tag"]?.stringValue)
        #expect(task.node.driverInternalInfo["dnsmasq_tag"]?.stringValue != otherTag, "one tag per node")
        try await boot.cleanUpRamdisk(task)
        #expect(scratch.hostFile("52:54:00:cc:dd:01") == "52:54:00:cc:dd:01,set:\(otherTag),set:ironic\n")
        #expect(scratch.optionsFile(other.node.uuid) != nil)
    }

    @Test func theNoneProviderWritesNothing() async throws {
        let scratch = try Scratch()
        let task = scratch.task()
        try await scratch.boot.prepareRamdisk(task, purpose: .deploy)
        try await scratch.boot.cleanUpRamdisk(task)
        #expect(!FileManager.default.fileExists(atPath: "\(scratch.directory)/dnsmasq"))
        #expect(task.node.driverInternalInfo["dnsmasq_tag"] == nil)
        #expect(DHCPProviders.configured(scratch.settings).name == "none")
    }
}
