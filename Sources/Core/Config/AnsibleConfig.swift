import Foundation

/// `[ansible]`: the `ansible` deploy interface, which runs Ansible playbooks from the conductor
/// against the deploy ramdisk over SSH. Ironic's option names and defaults, plus options of
/// our own for running many nodes' playbooks as few `ansible-playbook` processes (marked
/// "ours").
///
/// ```ini
/// [ansible]
/// playbooks_path = /etc/ironic/playbooks
/// default_key_file = /etc/ironic/ansible_rsa
/// batch_window = 2
/// max_playbook_processes = 8
/// ```
public struct AnsibleConfig: Sendable, Hashable {
    /// `ansible_playbook_script`: the `ansible-playbook` to run, a path or a name looked up in
    /// `PATH` (default `ansible-playbook`).
    public var ansiblePlaybookScript = "ansible-playbook"
    /// `playbooks_path`: the directory holding the playbooks, their roles and the `inventory`
    /// file. Default nil: the `Playbooks/` directory of the checkout the service runs from (see
    /// ``defaultPlaybooksPath(executable:currentDirectory:)``).
    public var playbooksPath: String?
    /// `config_file_path`: the `ansible.cfg` handed to `ansible-playbook` as `ANSIBLE_CONFIG`.
    /// Default nil: `<playbooks_path>/ansible.cfg`; empty: Ansible's own search.
    public var configFilePath: String?
    /// `default_username`: the ramdisk user Ansible logs in as (default `ansible`); a node's
    /// `driver_info.ansible_username` overrides it.
    public var defaultUsername = "ansible"
    /// `default_key_file`: the private SSH key Ansible uses (default nil: the conductor user's
    /// own keys); `driver_info.ansible_key_file` overrides it.
    public var defaultKeyFile: String?
    /// `default_deploy_playbook` (default `deploy.yaml`).
    public var defaultDeployPlaybook = "deploy.yaml"
    /// `default_shutdown_playbook` (default `shutdown.yaml`).
    public var defaultShutdownPlaybook = "shutdown.yaml"
    /// `default_clean_playbook` (default `clean.yaml`).
    public var defaultCleanPlaybook = "clean.yaml"
    /// `default_clean_steps_config`: the file listing the clean steps (default `clean_steps.yaml`).
    public var defaultCleanStepsConfig = "clean_steps.yaml"
    /// `default_python_interpreter`: the Python on the ramdisk (default nil: Ansible discovers it).
    public var defaultPythonInterpreter: String?
    /// `verbosity`: `-v` count, 0...4. Default nil: 4 with `[DEFAULT] debug`, else 0 (as Ironic).
    public var verbosity: Int?
    /// `ansible_extra_args`: more arguments for every `ansible-playbook`, split as a shell would.
    public var ansibleExtraArgs: String?
    /// `extra_memory`: MiB the ramdisk's Ansible needs beside an image held in RAM (default 10);
    /// part of `ironic.image.mem_req`.
    public var extraMemoryMiB = 10
    /// `image_store_insecure`: the ramdisk skips TLS checks when downloading (default false).
    public var imageStoreInsecure = false
    /// `image_store_cafile`: CA bundle for image downloads, passed as `ironic.image.cafile`.
    public var imageStoreCAFile: String?
    /// `image_store_certfile`: client certificate for image downloads (`ironic.image.client_cert`).
    public var imageStoreCertFile: String?
    /// `image_store_keyfile`: its key (`ironic.image.client_key`).
    public var imageStoreKeyFile: String?
    /// `post_deploy_get_power_state_retries`: how often the power state is read for the node to
    /// be off after the shutdown playbook (default 6).
    public var postDeployGetPowerStateRetries = 6
    /// `post_deploy_get_power_state_retry_interval` (default 5 s).
    public var postDeployGetPowerStateRetryInterval: Duration = .seconds(5)

    /// `batch_window` (ours): jobs of the same playbook and variables that arrive within this
    /// time of the first run as one `ansible-playbook` (default 1 s; 0: no waiting).
    public var batchWindow: Duration = .seconds(1)
    /// `max_playbook_processes` (ours): the most `ansible-playbook` processes at once (default 4);
    /// later runs wait for one to end.
    public var maxPlaybookProcesses = 4
    /// `max_hosts_per_playbook` (ours): the most nodes one `ansible-playbook` serves (default 50).
    public var maxHostsPerPlaybook = 50
    /// `forks` (ours): the most hosts one `ansible-playbook` works on in parallel; each run gets
    /// `--forks` = its number of hosts up to this (default 50).
    public var forks = 50
    /// `playbook_timeout` (ours): an `ansible-playbook` still running after this is killed and
    /// its nodes fail (default 3600 s).
    public var playbookTimeout: Duration = .seconds(3600)
    /// `playbook_log_dir` (ours): where the output of every run is kept, one file per run
    /// (default `var/ansible-logs`).
    public var playbookLogDirectory = "var/ansible-logs"
    /// `[DEFAULT] tempdir`: where config drives and extra-vars files for a run are written,
    /// readable by the conductor's user only and removed after the run (default: the system's
    /// temporary directory).
    public var temporaryDirectory = FileManager.default.temporaryDirectory.path

    /// Defaults as documented.
    public init() {}

    /// `playbooks_path`, or its default.
    public var resolvedPlaybooksPath: String { playbooksPath ?? Self.defaultPlaybooksPath() }

    /// The `ANSIBLE_CONFIG` to pass; nil when Ansible should search on its own.
    public var resolvedConfigFilePath: String? {
        guard let configFilePath else { return (resolvedPlaybooksPath as NSString).appendingPathComponent("ansible.cfg") }
        return configFilePath.isEmpty ? nil : configFilePath
    }

    /// The `Playbooks/` directory of this checkout: the first `Playbooks` directory found in
    /// the executable's directory or one of its parents (`.build/debug/ironic` lies three or
    /// four levels below the checkout), else `Playbooks` under the current directory.
    public static func defaultPlaybooksPath(
        executable: String? = Bundle.main.executablePath ?? CommandLine.arguments.first,
        currentDirectory: String = FileManager.default.currentDirectoryPath
    ) -> String {
        var isDirectory: ObjCBool = false
        if let executable {
            var directory = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
            for _ in 0..<6 {
                let candidate = directory.appendingPathComponent("Playbooks").path
                if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), isDirectory.boolValue {
                    return candidate
                }
                let parent = directory.deletingLastPathComponent()
                if parent.path == directory.path { break }
                directory = parent
            }
        }
        return (currentDirectory as NSString).appendingPathComponent("Playbooks")
    }
}

extension IronicConfig {
    mutating func readAnsibleOptions(_ reader: OptionReader) throws(ConfigError) {
        var a = ansible
        a.ansiblePlaybookScript = try reader.string("ansible", "ansible_playbook_script") ?? a.ansiblePlaybookScript
        a.playbooksPath = try reader.string("ansible", "playbooks_path").flatMap { $0.isEmpty ? nil : $0 } ?? a.playbooksPath
        a.configFilePath = try reader.string("ansible", "config_file_path") ?? a.configFilePath
        a.defaultUsername = try reader.string("ansible", "default_username") ?? a.defaultUsername
        a.defaultKeyFile = try reader.string("ansible", "default_key_file").flatMap { $0.isEmpty ? nil : $0 } ?? a.defaultKeyFile
        a.defaultDeployPlaybook = try reader.string("ansible", "default_deploy_playbook") ?? a.defaultDeployPlaybook
        a.defaultShutdownPlaybook = try reader.string("ansible", "default_shutdown_playbook") ?? a.defaultShutdownPlaybook
        a.defaultCleanPlaybook = try reader.string("ansible", "default_clean_playbook") ?? a.defaultCleanPlaybook
        a.defaultCleanStepsConfig = try reader.string("ansible", "default_clean_steps_config") ?? a.defaultCleanStepsConfig
        a.defaultPythonInterpreter =
            try reader.string("ansible", "default_python_interpreter").flatMap { $0.isEmpty ? nil : $0 } ?? a.defaultPythonInterpreter
        a.verbosity = try reader.int("ansible", "verbosity", range: 0...4) ?? a.verbosity ?? (debug ? 4 : nil)
        a.ansibleExtraArgs = try reader.string("ansible", "ansible_extra_args") ?? a.ansibleExtraArgs
        a.extraMemoryMiB = try reader.int("ansible", "extra_memory", range: 0...1_048_576) ?? a.extraMemoryMiB
        a.imageStoreInsecure = try reader.bool("ansible", "image_store_insecure") ?? a.imageStoreInsecure
        a.imageStoreCAFile = try reader.string("ansible", "image_store_cafile") ?? a.imageStoreCAFile
        a.imageStoreCertFile = try reader.string("ansible", "image_store_certfile") ?? a.imageStoreCertFile
        a.imageStoreKeyFile = try reader.string("ansible", "image_store_keyfile") ?? a.imageStoreKeyFile
        a.postDeployGetPowerStateRetries =
            try reader.int("ansible", "post_deploy_get_power_state_retries", range: 0...10_000) ?? a.postDeployGetPowerStateRetries
        a.postDeployGetPowerStateRetryInterval =
            try reader.seconds("ansible", "post_deploy_get_power_state_retry_interval") ?? a.postDeployGetPowerStateRetryInterval
        a.batchWindow = try reader.seconds("ansible", "batch_window") ?? a.batchWindow
        a.maxPlaybookProcesses = try reader.int("ansible", "max_playbook_processes", range: 1...1024) ?? a.maxPlaybookProcesses
        a.maxHostsPerPlaybook = try reader.int("ansible", "max_hosts_per_playbook", range: 1...10_000) ?? a.maxHostsPerPlaybook
        a.forks = try reader.int("ansible", "forks", range: 1...10_000) ?? a.forks
        a.playbookTimeout = try reader.seconds("ansible", "playbook_timeout") ?? a.playbookTimeout
        guard a.playbookTimeout > .zero else {
            throw ConfigError(source: "[ansible] playbook_timeout", message: "expected a positive number of seconds")
        }
        a.playbookLogDirectory = try reader.string("ansible", "playbook_log_dir") ?? a.playbookLogDirectory
        a.temporaryDirectory = try reader.string("DEFAULT", "tempdir").flatMap { $0.isEmpty ? nil : $0 } ?? a.temporaryDirectory
        ansible = a
    }
}
