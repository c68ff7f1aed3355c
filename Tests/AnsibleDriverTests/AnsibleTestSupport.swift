import AnsibleDrivers
import ChildProcesses
import Core
import Foundation
import Logging
import Testing

/// The real `ansible-playbook` the tests run: `IRONIC_TEST_ANSIBLE_PLAYBOOK`, else the one in
/// `var/ansible-venv` of this checkout (scripts/ansible-venv.sh makes it), else one on `PATH`.
/// There is no silent skip: without one the tests fail and say how to get it.
enum AnsibleTool {
    static let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static func playbookScript() throws -> String {
        var candidates: [String] = []
        if let given = ProcessInfo.processInfo.environment["IRONIC_TEST_ANSIBLE_PLAYBOOK"], !given.isEmpty { candidates.append(given) }
        candidates.append("\(checkout)/var/ansible-venv/bin/ansible-playbook")
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append("\(directory)/ansible-playbook")
        }
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return found }
        let message =
            "ansible-playbook not found (looked at IRONIC_TEST_ANSIBLE_PLAYBOOK, \(checkout)/var/ansible-venv/bin and PATH): "
            + "run scripts/ansible-venv.sh, or `python3 -m venv var/ansible-venv && var/ansible-venv/bin/pip install ansible-core`"
        Issue.record(Comment(rawValue: message))
        throw ToolMissing(message: message)
    }

    struct ToolMissing: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
}

/// A scratch directory with Ironic-style playbooks whose hosts Ansible runs locally
/// (`connection: local`): the first play adds `ironic.nodes` as hosts, as Ironic's
/// `add-ironic-nodes.yaml` does.
final class PlaybookLab: @unchecked Sendable {
    let directory: String

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ansible-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try write("inventory", "conductor ansible_connection=local\n")
        try write("ansible.cfg", "[defaults]\nretry_files_enabled = False\nhost_key_checking = False\n")
        try write(
            "add-nodes.yaml",
            """
            - hosts: conductor
              gather_facts: false
              tasks:
                - name: Add the nodes
                  add_host:
                    name: "{{ item.name }}"
                    groups: ironic
                    ansible_connection: local
                    ansible_python_interpreter: "{{ ansible_playbook_python }}"
                    ironic_port: "{{ item.port }}"
                  loop: "{{ ironic.nodes }}"
                  tags: always

            """)
        // `b` fails its image task; everyone else passes.
        try write(
            "deploy.yaml",
            """
            - import_playbook: add-nodes.yaml
            - hosts: ironic
              gather_facts: false
              tasks:
                - name: Say hello
                  debug:
                    msg: "hello {{ inventory_hostname }} on port {{ ironic_port }}"
                - name: Write the image
                  fail:
                    msg: "disk on fire on {{ inventory_hostname }}"
                  when: inventory_hostname == 'b'
                - name: Flush
                  debug:
                    msg: "flushed {{ ironic.image.url | default('no image') }}"

            """)
        try write(
            "slow.yaml",
            """
            - import_playbook: add-nodes.yaml
            - hosts: ironic
              gather_facts: false
              tasks:
                - name: Take a while
                  pause:
                    seconds: 1

            """)
        try write(
            "hang.yaml",
            """
            - import_playbook: add-nodes.yaml
            - hosts: ironic
              gather_facts: false
              tasks:
                - name: Hang
                  pause:
                    seconds: 600

            """)
        try write(
            "shutdown.yaml",
            """
            - import_playbook: add-nodes.yaml
            - hosts: ironic
              gather_facts: false
              tasks:
                - name: soft power off
                  debug:
                    msg: "powering off {{ inventory_hostname }}"

            """)
        try write(
            "shutdown-fails.yaml",
            """
            - import_playbook: add-nodes.yaml
            - hosts: ironic
              gather_facts: false
              tasks:
                - name: soft power off
                  fail:
                    msg: "poweroff: not permitted"

            """)
        try write(
            "clean.yaml",
            """
            - import_playbook: add-nodes.yaml
            - hosts: ironic
              gather_facts: false
              tasks:
                - name: zap
                  debug:
                    msg: zapped
                  tags: zap
                - name: shred
                  fail:
                    msg: "shred must not run"
                  tags: shred

            """)
        try write(
            "clean_steps.yaml",
            """
            - name: erase_devices_metadata
              priority: 99
              interface: deploy
              args:
                tags:
                  required: true
                  description: list of playbook tags used to erase partition table on disk devices
                  value:
                    - zap

            - name: erase_devices
              priority: 10
              interface: deploy
              args:
                tags:
                  required: true
                  description: list of playbook tags used to erase disk devices
                  value:
                    - shred

            """)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: "\(directory)/\(name)"))
    }

    /// `[ansible]` settings over this directory and the real `ansible-playbook`.
    func settings(
        window: Duration = .milliseconds(800), processes: Int = 4, hosts: Int = 50, timeout: Duration = .seconds(120)
    ) throws -> AnsibleConfig {
        var settings = AnsibleConfig()
        settings.ansiblePlaybookScript = try AnsibleTool.playbookScript()
        settings.playbooksPath = directory
        settings.playbookLogDirectory = "\(directory)/logs"
        settings.temporaryDirectory = "\(directory)/tmp"
        settings.batchWindow = window
        settings.maxPlaybookProcesses = processes
        settings.maxHostsPerPlaybook = hosts
        settings.playbookTimeout = timeout
        settings.postDeployGetPowerStateRetries = 0
        return settings
    }

    /// A job of host `name` for `playbook`.
    func job(_ name: String, playbook: String = "deploy.yaml", awaited: String = "ansible:deploy", variables: [String: JSONValue] = [:])
        -> AnsibleJob
    {
        AnsibleJob(
            nodeUUID: name, awaited: awaited, playbooksPath: directory, playbook: playbook, user: "ansible",
            host: AnsibleExtraVars.host(uuid: name, ip: "127.0.0.1", user: "ansible", extra: [:], port: 22), variables: variables)
    }
}

/// A power interface that records what it was asked, over a state it keeps itself.
final class RecordingPower: PowerInterface, @unchecked Sendable {
    let name = "recording"
    private let lock = NSLock()
    private var state: PowerState
    private(set) var calls: [String] = []

    init(state: PowerState) { self.state = state }

    func powerState(of task: NodeTask) async throws -> PowerState { lock.withLock { state } }

    func setPowerState(_ target: PowerState, on task: NodeTask, timeout: Duration?) async throws {
        lock.withLock {
            state = target
            calls.append(target.rawValue)
        }
    }

    func reboot(_ task: NodeTask, soft: Bool, timeout: Duration?) async throws {
        lock.withLock {
            state = .on
            calls.append("reboot")
        }
    }

    func supportedPowerStates(_ task: NodeTask) -> [PowerState] { [.on, .off] }

    var recorded: [String] { lock.withLock { calls } }
}

extension Logger {
    static let tests = Logger(label: "ansible-tests")
}
