import AnsibleDrivers
import Core
import Foundation
import HardwareTypes
import Testing

/// The `ansible` deploy interface: its variables, validation, clean steps and steps.
@Suite("ansible deploy interface")
struct AnsibleDeployTests {
    static func task(_ node: Node) -> NodeTask {
        NodeTask(node: node, conductor: "c1", isShared: false, logger: .tests)
    }

    static func node(uuid: String = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123") -> Node {
        var node = Node(driver: "fake-hardware")
        node.uuid = uuid
        node.driverInternalInfo["agent_url"] = "http://192.0.2.10:9999"
        node.instanceInfo = ["image_source": "http://images.example.com/cirros.qcow2"]
        return node
    }

    // MARK: Extra variables

    @Test func extraVarsHaveIronicsShape() throws {
        var settings = AnsibleConfig()
        settings.temporaryDirectory =
            FileManager.default.temporaryDirectory.appendingPathComponent("ansible-vars-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: settings.temporaryDirectory) }
        var node = Self.node()
        node.extra = ["rack": "r1"]
        node.instanceInfo = [
            "image_source": "http://images.example.com/cirros.qcow2", "image_checksum": "0123456789abcdef0123456789abcdef",
            "image_disk_format": "qcow2", "image_mem_req": 42, "configdrive": "H4sIAAAA",
            "root_device": ["serial": "S1 X", "size": "== 100", "rotational": "false"],
            "capabilities": ["boot_mode": "uefi"],
        ]
        node.targetRAIDConfig = ["logical_disks": [["size_gb": 100, "raid_level": "1"]]]
        var variables = try AnsibleDeploy.deployVariables(node, settings: settings)
        let configdrive = try #require(try AnsibleExtraVars.configdrive(of: node, settings: settings))
        variables["configdrive"] = configdrive.variable
        let host = AnsibleExtraVars.host(
            uuid: node.uuid, ip: try AnsibleExtraVars.address(of: node), user: "ansible", extra: node.extra, port: 2222)
        let document = AnsibleExtraVars.document(hosts: [host], variables: variables, pythonInterpreter: "/usr/bin/python3")

        let path = "\(settings.temporaryDirectory)/\(node.uuid).cndrive"
        let expected = """
            {"ansible_python_interpreter": "/usr/bin/python3", "ironic": {"configdrive": {"location": "\(path)", "type": "file"}, \
            "image": {"checksum": "md5:0123456789abcdef0123456789abcdef", "disk_format": "qcow2", "mem_req": 42, \
            "source": "http://images.example.com/cirros.qcow2", "url": "http://images.example.com/cirros.qcow2", "validate_certs": "yes"}, \
            "nodes": [{"extra": {"rack": "r1"}, "ip": "192.0.2.10", "name": "1be26c0b-03f2-4d2e-ae87-c02d7f33c123", "port": 2222, "user": "ansible"}], \
            "raid_config": {"logical_disks": [{"raid_level": "1", "size_gb": 100}]}, \
            "root_device_hints": {"rotational": false, "serial": "s1 x", "size": 100}}}
            """
        #expect(document.serialized() == expected)
        #expect(configdrive.written == path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "H4sIAAAA")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func checksumsAndConfigDriveURLs() throws {
        let settings = AnsibleConfig()
        var info: [String: JSONValue] = ["image_source": "http://x/a.img", "image_checksum": "sha512:ff"]
        #expect(AnsibleExtraVars.image(info, settings: settings)["checksum"] == "sha512:ff", "an algorithm named is kept")
        info["image_checksum"] = .string(String(repeating: "a", count: 64))
        #expect(AnsibleExtraVars.image(info, settings: settings)["checksum"] == .string("sha256:" + String(repeating: "a", count: 64)))
        info["image_os_hash_algo"] = "sha512"
        info["image_os_hash_value"] = "beef"
        #expect(AnsibleExtraVars.image(info, settings: settings)["checksum"] == "sha512:beef", "os_hash wins")
        #expect(AnsibleExtraVars.image(info, settings: settings)["disk_format"] == "raw")
        var insecure = settings
        insecure.imageStoreInsecure = true
        #expect(AnsibleExtraVars.image(info, settings: insecure)["validate_certs"] == "no")

        var node = Self.node()
        node.instanceInfo["configdrive"] = "https://configs.example.com/n1.gz"
        let drive = try #require(try AnsibleExtraVars.configdrive(of: node, settings: settings))
        #expect(drive.variable == ["type": "url", "location": "https://configs.example.com/n1.gz"])
        #expect(drive.written == nil)
        node.driverInternalInfo["agent_url"] = "http://[fd00::5]:9999"
        #expect(try AnsibleExtraVars.address(of: node) == "fd00::5")
    }

    // MARK: Validation

    @Test func validationNeedsAnImageSource() async throws {
        let deploy = AnsibleDeploy(settings: AnsibleConfig(), runner: AnsibleRunner(settings: AnsibleConfig()))
        var node = Self.node()
        node.instanceInfo = [:]
        await #expect {
            try await deploy.validate(Self.task(node))
        } throws: { error in
            (error as? IronicError)?.message
                == "Node \(node.uuid) failed to validate deploy image info. Some parameters were missing. Missing are: ['instance_info.image_source']"
                && (error as? IronicError)?.status == 400
        }
        try await deploy.validate(Self.task(Self.node()))
    }

    @Test func validationRefusesAdvancedRootDeviceHints() async throws {
        let deploy = AnsibleDeploy(settings: AnsibleConfig(), runner: AnsibleRunner(settings: AnsibleConfig()))
        var node = Self.node()
        node.properties["root_device"] = ["size": ">= 100", "model": "<in> a b", "serial": "s1"]
        await #expect {
            try await deploy.validate(Self.task(node))
        } throws: { error in
            (error as? IronicError)?.message
                == "Ansible-deploy does not support advanced root device hints based on oslo.utils operators. Present advanced hints for node \(node.uuid) are {'model': '<in> a b', 'size': '>= 100'}."
        }
        node.properties["root_device"] = ["colour": "red"]
        await #expect {
            try await deploy.validate(Self.task(node))
        } throws: { error in
            (error as? IronicError)?.message.contains("The hints \"colour\" are invalid.") == true
        }
        node.properties["root_device"] = ["size": "-5"]
        await #expect {
            try await deploy.validate(Self.task(node))
        } throws: { error in
            (error as? IronicError)?.message.contains("Root device hint \"size\" should be a positive integer.") == true
        }
        node.properties["root_device"] = ["size": "s== 10", "name": "s== /dev/sda"]
        await #expect(throws: IronicError.self) { try await deploy.validate(Self.task(node)) }
        node.properties["root_device"] = ["size": 10, "name": "s== /dev/sda", "wwn": "0x5000"]
        try await deploy.validate(Self.task(node))
        #expect(try AnsibleExtraVars.rootDeviceHints(of: node) == ["size": 10, "name": "/dev/sda", "wwn": "0x5000"])
        node.driverInfo["ansible_port"] = "70000"
        await #expect(throws: IronicError.self) { try await deploy.validate(Self.task(node)) }
    }

    @Test func interfaceProperties() {
        let deploy = AnsibleDeploy(settings: AnsibleConfig(), runner: AnsibleRunner(settings: AnsibleConfig()))
        #expect(deploy.name == "ansible")
        for key in [
            "ansible_username", "ansible_key_file", "ansible_playbooks_path", "ansible_deploy_playbook", "ansible_shutdown_playbook",
            "ansible_clean_playbook", "ansible_clean_steps_config", "ansible_python_interpreter", "ansible_port",
        ] {
            #expect(deploy.properties[key] != nil, "\(key)")
        }
        #expect(
            deploy.deploySteps(Self.task(Self.node())).map { "\($0.step):\($0.priority)" } == [
                "deploy:100", "write_image:80", "prepare_instance_boot:60", "tear_down_agent:40", "switch_to_tenant_network:30",
                "boot_instance:20",
            ])
    }

    @Test func fakeHardwareAndIPMIOfferAnsible() throws {
        let registry = try ShippedHardware.registry(
            config: DriverConfig(
                enabledHardwareTypes: ["fake-hardware", "ipmi"], enabledInterfaces: [.deploy: ["fake", "direct", "ansible"]]))
        var node = Node(driver: "fake-hardware")
        node.interfaces[.deploy] = "ansible"
        try registry.resolveInterfaces(of: &node)
        #expect(try registry.driver(for: node).deploy?.name == "ansible")
        let ipmi = ShippedHardware.hardwareTypes.first { $0.name == "ipmi" }
        #expect(ipmi?.supported[.deploy]?.starts(with: ["autodetect", "direct", "ansible"]) == true)
    }

    @Test func configurationReadsTheAnsibleSection() throws {
        var ini = INIFile()
        ini.set("ansible", "batch_window", "2.5")
        ini.set("ansible", "max_playbook_processes", "8")
        ini.set("ansible", "playbooks_path", "/etc/ironic/playbooks")
        ini.set("ansible", "default_key_file", "/etc/ironic/key")
        ini.set("DEFAULT", "debug", "true")
        let config = try IronicConfig(ini: ini)
        #expect(config.ansible.batchWindow == .milliseconds(2500))
        #expect(config.ansible.maxPlaybookProcesses == 8)
        #expect(config.ansible.maxHostsPerPlaybook == 50)
        #expect(config.ansible.resolvedPlaybooksPath == "/etc/ironic/playbooks")
        #expect(config.ansible.resolvedConfigFilePath == "/etc/ironic/playbooks/ansible.cfg")
        #expect(config.ansible.defaultKeyFile == "/etc/ironic/key")
        #expect(config.ansible.verbosity == 4, "debug means -vvvv unless verbosity says otherwise")
        #expect(AnsibleConfig().resolvedPlaybooksPath.hasSuffix("/Playbooks"))
        ini.set("ansible", "max_playbook_processes", "0")
        #expect(throws: ConfigError.self) { try IronicConfig(ini: ini) }
    }

    // MARK: Clean steps

    @Test func cleanStepsComeFromTheFile() throws {
        let lab = try PlaybookLab()
        let steps = try AnsibleCleanSteps.load(path: "\(lab.directory)/clean_steps.yaml", nodeUUID: "n1")
        #expect(
            steps == [
                ProvisionStep(interface: "deploy", step: "erase_devices_metadata", priority: 99, args: ["tags": ["zap"]], inAgent: true),
                ProvisionStep(interface: "deploy", step: "erase_devices", priority: 10, args: ["tags": ["shred"]], inAgent: true),
            ])
        let deploy = AnsibleDeploy(
            settings: try lab.settings(), deploy: DeployConfig(), runner: AnsibleRunner(settings: try lab.settings()))
        #expect(deploy.cleanStepPriorityOverrides() == ["erase_devices": 0, "erase_devices_metadata": 99])
    }

    @Test func malformedCleanStepsFilesAreRefusedWithIronicsMessages() throws {
        #expect {
            try AnsibleCleanSteps.parse(
                "- name: a\n  interface: deploy\n  args:\n    tags:\n      required: true\n- priority: 5\n- name: b\n", source: "f",
                nodeUUID: "n1")
        } throws: { error in
            (error as? IronicError)?.message
                == "Failed to clean node n1: Malformed clean_steps file: name a, field tags.value, name undefined, field name, name b, field interface"
        }
        #expect {
            try AnsibleCleanSteps.parse("- {name: a, interface: deploy}\n- {name: a, interface: deploy}\n", source: "f", nodeUUID: "n1")
        } throws: { error in
            (error as? IronicError)?.message == "Failed to clean node n1: Cleaning steps do not have unique names."
        }
        #expect {
            try AnsibleCleanSteps.load(path: "/nonexistent/clean_steps.yaml", nodeUUID: "n1")
        } throws: { error in
            (error as? IronicError)?.message.hasPrefix(
                "Failed to clean node n1: Failed to load clean steps from file /nonexistent/clean_steps.yaml") == true
        }
        let raidOnly = try AnsibleCleanSteps.parse("- {name: r, interface: raid, priority: 3}\n", source: "f", nodeUUID: "n1")
        #expect(raidOnly.isEmpty, "only deploy steps are offered")
    }

    // MARK: Steps with the real ansible-playbook

    @Test func writeImageTearDownAndBootInstance() async throws {
        let lab = try PlaybookLab()
        var settings = try lab.settings(window: .zero)
        settings.defaultShutdownPlaybook = "shutdown-fails.yaml"
        let deploy = AnsibleDeploy(settings: settings, runner: AnsibleRunner(settings: settings, logger: .tests)) { _ in 10 << 20 }
        let power = RecordingPower(state: .on)
        let driver = ComposedDriver(hardwareType: "fake-hardware", interfaces: [.power: power, .deploy: deploy])
        let task = Self.task(Self.node(uuid: "a"))
        task.updateNode { $0.driverInternalInfo["agent_url"] = "http://127.0.0.1:9999" }

        let write = ProvisionStep(interface: "deploy", step: "write_image", priority: 80)
        #expect(try await deploy.executeDeployStep(write, task: task, driver: driver) == .wait)
        #expect(task.node.driverInternalInfo["agent_awaited"] == "ansible:deploy")
        #expect(task.node.instanceInfo["image_mem_req"] == 20, "10 MiB image + [ansible] extra_memory")
        #expect(deploy.endsWithoutHeartbeat("ansible:deploy"))
        await deploy.waitForAwaited("ansible:deploy", nodeUUID: "a")
        #expect(try await deploy.awaitedStatus("ansible:deploy", task: task)?.status == .succeeded)

        let tearDown = ProvisionStep(interface: "deploy", step: "tear_down_agent", priority: 40)
        #expect(try await deploy.executeDeployStep(tearDown, task: task, driver: driver) == .wait)
        #expect(task.node.driverInternalInfo["agent_awaited"] == "ansible:shutdown")
        await deploy.waitForAwaited("ansible:shutdown", nodeUUID: "a")
        let shutdown = try await deploy.awaitedStatus("ansible:shutdown", task: task)
        #expect(shutdown?.status == .succeeded, "a failed shutdown playbook is only a warning")

        let boot = ProvisionStep(interface: "deploy", step: "boot_instance", priority: 20)
        #expect(try await deploy.executeDeployStep(boot, task: task, driver: driver) == .done)
        #expect(power.recorded == ["power off", "power on"], "still on after the shutdown playbook: off through the BMC, then on")
        #expect(task.node.powerState == .on)
        #expect(task.node.driverInternalInfo["ansible_soft_power_off_failed"] == nil)
    }

    @Test func aFailedDeployPlaybookFailsTheStepWithItsReason() async throws {
        let lab = try PlaybookLab()
        let settings = try lab.settings(window: .zero)
        let deploy = AnsibleDeploy(settings: settings, runner: AnsibleRunner(settings: settings, logger: .tests)) { _ in nil }
        let driver = ComposedDriver(hardwareType: "fake-hardware", interfaces: [.deploy: deploy])
        let task = Self.task(Self.node(uuid: "b"))
        task.updateNode { $0.driverInternalInfo["agent_url"] = "http://127.0.0.1:9999" }
        _ = try await deploy.executeDeployStep(
            ProvisionStep(interface: "deploy", step: "write_image", priority: 80), task: task, driver: driver)
        await deploy.waitForAwaited("ansible:deploy", nodeUUID: "b")
        let status = try await deploy.awaitedStatus("ansible:deploy", task: task)
        #expect(status?.status == .failed)
        #expect(status?.error == "Ansible task 'Write the image' failed on node: disk on fire on b")
    }

    @Test func aConductorWithoutTheRunsRecordKnowsNothing() async throws {
        // A restarted conductor (or the one taking the node over) has a fresh runner: no record,
        // so the conductor fails the step as having an unknown outcome.
        let deploy = AnsibleDeploy(settings: AnsibleConfig(), runner: AnsibleRunner(settings: AnsibleConfig()))
        let task = Self.task(Self.node(uuid: "a"))
        #expect(try await deploy.awaitedStatus("ansible:deploy", task: task) == nil)
        #expect(try await deploy.awaitedStatus("execute_clean_step", task: task) == nil)
        #expect(!deploy.endsWithoutHeartbeat("heartbeat"))
    }

    @Test func cleanStepsRunTheCleanPlaybookWithTheirTags() async throws {
        let lab = try PlaybookLab()
        let settings = try lab.settings(window: .zero)
        let runner = AnsibleRunner(settings: settings, logger: .tests)
        let deploy = AnsibleDeploy(settings: settings, runner: runner)
        let task = Self.task(Self.node(uuid: "a"))
        task.updateNode { $0.driverInternalInfo["agent_url"] = "http://127.0.0.1:9999" }
        let steps = try await deploy.ramdiskCleanSteps(task)
        let metadata = try #require(steps.first { $0.step == "erase_devices_metadata" })
        let awaited = try await deploy.startRamdiskCleanStep(metadata, task: task)
        #expect(awaited == "ansible:clean:erase_devices_metadata")
        await deploy.waitForAwaited(awaited, nodeUUID: "a")
        #expect(try await deploy.awaitedStatus(awaited, task: task)?.status == .succeeded, "only the zap tag ran")
        let run = try #require(await runner.history().last)
        #expect(run.arguments.contains("--tags=zap"))
        #expect(run.playbook.hasSuffix("/clean.yaml"))

        // A manual step without arguments takes its tags from the file.
        let bare = ProvisionStep(interface: "deploy", step: "erase_devices", priority: 0, inAgent: true)
        let shred = try await deploy.startRamdiskCleanStep(bare, task: task)
        await deploy.waitForAwaited(shred, nodeUUID: "a")
        let status = try await deploy.awaitedStatus(shred, task: task)
        #expect(status?.error == "Ansible task 'shred' failed on node: shred must not run")
    }
}
