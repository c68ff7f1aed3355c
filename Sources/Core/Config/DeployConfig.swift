import Foundation

/// Options of provisioning through a ramdisk agent, from the `ironic.conf` sections Ironic
/// keeps them in: `[deploy]`, `[pxe]`, `[agent]`, `[dhcp]`, `[service_catalog]`,
/// `[inspector]` and the call-back timeouts of `[conductor]`.
public struct DeployConfig: Sendable, Hashable {
    /// `[deploy] http_url`: the base URL at which machines being provisioned reach the
    /// conductor's boot file server (boot scripts, deploy kernel and ramdisk, cached images).
    /// Default `http://10.0.2.2:8088`: the host as QEMU's user-mode network shows it to lab VMs.
    public var httpURL = "http://10.0.2.2:8088"
    /// `[deploy] http_root`: the directory the boot file server serves (default `var/httpboot`).
    public var httpRoot = "var/httpboot"
    /// `[deploy] http_server_host`: where the conductor's own boot file server listens; the port
    /// is `http_url`'s (default 127.0.0.1). Empty disables the server (an external web server
    /// serves `http_root` then). Not an Ironic option: Ironic expects an external web server.
    public var httpServerHost = "127.0.0.1"
    /// `[deploy] image_download_source`: `http` (the conductor caches the instance image and
    /// serves it from `http_url`) or `direct` (the agent fetches `image_source` itself).
    public var imageDownloadSource = "http"
    /// `[deploy] erase_devices_priority`: priority of the agent's `erase_devices` clean step
    /// (shreds every disk). Default 0, off: the agent's own default (10) takes hours on real disks.
    public var eraseDevicesPriority = 0
    /// `[deploy] erase_devices_metadata_priority`: priority of `erase_devices_metadata`
    /// (wipes partition tables and file-system signatures); default 99, as the agent's.
    public var eraseDevicesMetadataPriority = 99
    /// `[pxe] kernel_append_params`: kernel parameters for the deploy ramdisk; a node's
    /// `driver_info.kernel_append_params` replaces them (`%default%` in it stands for these).
    public var kernelAppendParams = "nofb nomodeset vga=normal"
    /// `[pxe] tftp_root`: the directory the TFTP server serves; the `pxe` boot interface writes
    /// pxelinux configs, kernels and ramdisks there (default `var/tftpboot`; Ironic's `/tftpboot`).
    public var tftpRoot = "var/tftpboot"
    /// `[pxe] tftp_master_path`: the cache of kernels and ramdisks that `tftp_root` holds hard
    /// links to, so on the same file system (default nil: `<tftp_root>/master_images`).
    public var tftpMasterPath: String?
    /// `[pxe] tftp_server`: the TFTP server's address the `dnsmasq` provider hands out (DHCP
    /// options 66, 150 and `siaddr`). Default empty: none is sent, so dnsmasq names itself.
    public var tftpServer = ""
    /// `[pxe] pxe_bootfile_name`: the boot file DHCP names for `pxe` nodes (default `pxelinux.0`).
    public var pxeBootfileName = "pxelinux.0"
    /// `[pxe] loader_file_paths`: boot loader files copied into `tftp_root` (name there → path
    /// on the conductor) before a `pxe` node boots. Default: PXELINUX from Debian's `pxelinux`
    /// and `syslinux-common` packages (Ironic's default is empty: operators install them).
    public var loaderFilePaths: [String: String] = [
        "pxelinux.0": "/usr/lib/PXELINUX/pxelinux.0",
        "ldlinux.c32": "/usr/lib/syslinux/modules/bios/ldlinux.c32",
    ]
    /// `[pxe] enable_netboot_fallback`: `pxe` keeps a boot-from-disk config for deployed nodes,
    /// for machines that always boot from the network first (default false, as in Ironic).
    public var enableNetbootFallback = false
    /// `[service_catalog] endpoint_override`: the API URL the ramdisk calls back
    /// (`ipa-api-url`). Default `http://10.0.2.2:6385` (the host API as lab VMs reach it).
    public var apiURL = "http://10.0.2.2:6385"
    /// `[dhcp] dhcp_provider`: `none` (the network's DHCP already points machines at the boot
    /// file server) or `dnsmasq` (host entries written to `[dnsmasq] dhcp_hostsdir`).
    public var dhcpProvider = "none"
    /// `[dnsmasq] dhcp_hostsdir`: where the `dnsmasq` provider writes one file per MAC.
    public var dnsmasqHostsDirectory = "var/dnsmasq/hosts"
    /// `[dnsmasq] dhcp_optsdir`: where the `dnsmasq` provider writes the boot file options of
    /// each node (one file per node, matched by the tag its host entries set).
    public var dnsmasqOptionsDirectory = "var/dnsmasq/opts"
    /// `[pxe] image_cache_size`: the most the master image cache under `http_root` may hold,
    /// in MiB (default 20480); files no node links to are evicted, least recently used first.
    public var imageCacheSizeMiB = 20480
    /// `[pxe] image_cache_ttl`: cached files no node links to and unused this long are evicted
    /// (default 10080 minutes, a week).
    public var imageCacheTTL: Duration = .seconds(10080 * 60)
    /// `[conductor] deploy_callback_timeout`: a deploying node whose ramdisk has not called
    /// back (heartbeat) for this long fails (default 1800 s, as in Ironic).
    public var deployCallbackTimeout: Duration = .seconds(1800)
    /// `[conductor] clean_callback_timeout` (default 1800 s).
    public var cleanCallbackTimeout: Duration = .seconds(1800)
    /// `[conductor] inspect_wait_timeout` (default 1800 s).
    public var inspectWaitTimeout: Duration = .seconds(1800)
    /// `[conductor] rescue_callback_timeout` (default 1800 s).
    public var rescueCallbackTimeout: Duration = .seconds(1800)
    /// `[conductor] rescue_password_hash_algorithm`: `sha256` (default) or `sha512`, the
    /// crypt(3) scheme of the rescue password handed to the agent.
    public var rescuePasswordHashAlgorithm = "sha256"
    /// `[conductor] check_provision_state_interval`: how often call-back timeouts are checked
    /// (default 60 s).
    public var checkProvisionStateInterval: Duration = .seconds(60)
    /// `[agent] command_timeout`: how long one call to the agent's API may take (default 60 s).
    public var agentCommandTimeout: Duration = .seconds(60)
    /// `[agent] deploy_logs_collect`: `always`, `on_failure` (default) or `never`.
    public var deployLogsCollect = "on_failure"
    /// `[agent] deploy_logs_local_path`: where collected ramdisk logs go (default `var/deploy-logs`).
    public var deployLogsLocalPath = "var/deploy-logs"
    /// `[inspector] add_ports`: which inspected NICs become ports: `all`, `active`, `pxe`
    /// (default, the NIC the node booted from) or `disabled`.
    public var inspectorAddPorts = "pxe"
    /// `[inspector] power_off`: power the node off after inspection (default true).
    public var inspectorPowerOff = true

    /// Defaults as documented.
    public init() {}
}

extension IronicConfig {
    mutating func readDeployOptions(_ reader: OptionReader) throws(ConfigError) {
        var d = deploy
        d.httpURL = try reader.string("deploy", "http_url") ?? d.httpURL
        d.httpRoot = try reader.string("deploy", "http_root") ?? d.httpRoot
        d.httpServerHost = try reader.string("deploy", "http_server_host") ?? d.httpServerHost
        if let source = try reader.string("deploy", "image_download_source") {
            guard ["http", "direct", "local"].contains(source) else {
                throw ConfigError(source: "[deploy] image_download_source", message: "expected http, direct or local, got '\(source)'")
            }
            d.imageDownloadSource = source == "local" ? "http" : source
        }
        d.eraseDevicesPriority = try reader.int("deploy", "erase_devices_priority", range: 0...1000) ?? d.eraseDevicesPriority
        d.eraseDevicesMetadataPriority =
            try reader.int("deploy", "erase_devices_metadata_priority", range: 0...1000) ?? d.eraseDevicesMetadataPriority
        d.kernelAppendParams = try reader.string("pxe", "kernel_append_params") ?? d.kernelAppendParams
        try d.readPXEOptions(reader)
        d.apiURL = try reader.string("service_catalog", "endpoint_override") ?? d.apiURL
        if let provider = try reader.string("dhcp", "dhcp_provider") {
            guard ["none", "dnsmasq"].contains(provider) else {
                throw ConfigError(source: "[dhcp] dhcp_provider", message: "expected none or dnsmasq, got '\(provider)' (neutron needs a Neutron service)")
            }
            d.dhcpProvider = provider
        }
        d.dnsmasqHostsDirectory = try reader.string("dnsmasq", "dhcp_hostsdir") ?? d.dnsmasqHostsDirectory
        d.dnsmasqOptionsDirectory = try reader.string("dnsmasq", "dhcp_optsdir") ?? d.dnsmasqOptionsDirectory
        d.imageCacheSizeMiB = try reader.int("pxe", "image_cache_size", range: 0...Int(Int32.max)) ?? d.imageCacheSizeMiB
        if let minutes = try reader.int("pxe", "image_cache_ttl", range: 0...Int(Int32.max)) {
            d.imageCacheTTL = .seconds(minutes * 60)
        }
        d.deployCallbackTimeout = try reader.seconds("conductor", "deploy_callback_timeout") ?? d.deployCallbackTimeout
        d.cleanCallbackTimeout = try reader.seconds("conductor", "clean_callback_timeout") ?? d.cleanCallbackTimeout
        d.inspectWaitTimeout = try reader.seconds("conductor", "inspect_wait_timeout") ?? d.inspectWaitTimeout
        d.rescueCallbackTimeout = try reader.seconds("conductor", "rescue_callback_timeout") ?? d.rescueCallbackTimeout
        if let algorithm = try reader.string("conductor", "rescue_password_hash_algorithm") {
            guard ["sha256", "sha512"].contains(algorithm) else {
                throw ConfigError(
                    source: "[conductor] rescue_password_hash_algorithm", message: "expected sha256 or sha512, got '\(algorithm)'")
            }
            d.rescuePasswordHashAlgorithm = algorithm
        }
        d.checkProvisionStateInterval =
            try reader.seconds("conductor", "check_provision_state_interval") ?? d.checkProvisionStateInterval
        d.agentCommandTimeout = try reader.seconds("agent", "command_timeout") ?? d.agentCommandTimeout
        if let collect = try reader.string("agent", "deploy_logs_collect") {
            guard ["always", "on_failure", "never"].contains(collect) else {
                throw ConfigError(source: "[agent] deploy_logs_collect", message: "expected always, on_failure or never, got '\(collect)'")
            }
            d.deployLogsCollect = collect
        }
        d.deployLogsLocalPath = try reader.string("agent", "deploy_logs_local_path") ?? d.deployLogsLocalPath
        if let ports = try reader.string("inspector", "add_ports") {
            guard ["all", "active", "pxe", "disabled"].contains(ports) else {
                throw ConfigError(source: "[inspector] add_ports", message: "expected all, active, pxe or disabled, got '\(ports)'")
            }
            d.inspectorAddPorts = ports
        }
        d.inspectorPowerOff = try reader.bool("inspector", "power_off") ?? d.inspectorPowerOff
        deploy = d
    }
}

extension DeployConfig {
    /// The `[pxe]` options of the `pxe` boot interface.
    mutating func readPXEOptions(_ reader: OptionReader) throws(ConfigError) {
        tftpRoot = try reader.string("pxe", "tftp_root") ?? tftpRoot
        if let master = try reader.string("pxe", "tftp_master_path") {
            guard !master.isEmpty else {
                throw ConfigError(
                    source: "[pxe] tftp_master_path", message: "the TFTP image cache cannot be disabled; leave the option unset for <tftp_root>/master_images")
            }
            tftpMasterPath = master
        }
        tftpServer = try reader.string("pxe", "tftp_server") ?? tftpServer
        if let name = try reader.string("pxe", "pxe_bootfile_name") {
            guard Self.isTFTPRelativePath(name) else {
                throw ConfigError(source: "[pxe] pxe_bootfile_name", message: "expected a path inside tftp_root, got '\(name)'")
            }
            pxeBootfileName = name
        }
        if let entries = try reader.list("pxe", "loader_file_paths") {
            var paths: [String: String] = [:]
            for entry in entries {
                let pair = entry.split(separator: ":", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
                guard pair.count == 2, Self.isTFTPRelativePath(pair[0]), pair[1].hasPrefix("/") else {
                    throw ConfigError(
                        source: "[pxe] loader_file_paths", message: "expected name:/absolute/path entries separated by commas, got '\(entry)'")
                }
                paths[pair[0]] = pair[1]
            }
            loaderFilePaths = paths
        }
        enableNetbootFallback = try reader.bool("pxe", "enable_netboot_fallback") ?? enableNetbootFallback
    }

    /// A relative path without `..`: a file name a TFTP client may ask for.
    static func isTFTPRelativePath(_ path: String) -> Bool {
        !path.isEmpty && !path.hasPrefix("/") && !path.split(separator: "/").contains("..")
    }
}
