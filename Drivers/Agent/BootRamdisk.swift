import Core
import Foundation

/// What the `ipxe` and `pxe` boot interfaces share: which kernel and ramdisk a node boots,
/// fetching them into its directory, and the kernel command line the agent reads.
struct BootRamdisk: Sendable {
    let settings: DeployConfig
    let files: BootFiles
    let images: ImageCache

    /// The `driver_info` keys of the kernel and ramdisk for `purpose` (Ironic's labels, also
    /// the file names in the node's directory).
    static func labels(for purpose: RamdiskPurpose) -> (kernel: String, ramdisk: String) {
        purpose == .rescue ? ("rescue_kernel", "rescue_ramdisk") : ("deploy_kernel", "deploy_ramdisk")
    }

    /// `driver_info` keys every network boot interface reads.
    static let properties: [String: String] = [
        "deploy_kernel":
            "URL (http, https or file) or absolute path of the kernel of the deploy ramdisk. Required.",
        "deploy_ramdisk":
            "URL (http, https or file) or absolute path of the initramfs holding the ironic-python-agent. Required.",
        "rescue_kernel": "URL or absolute path of the rescue kernel; required for rescue mode.",
        "rescue_ramdisk": "URL or absolute path of the rescue ramdisk; required for rescue mode.",
        "kernel_append_params":
            "Kernel parameters for the ramdisk, read from /proc/cmdline by the kernel and the agent; keep them short. "
            + "Replaces [pxe] kernel_append_params; %default% in the value stands for that option's value. Optional.",
    ]

    /// The kernel and ramdisk sources for `purpose`, or Ironic's MissingParameterValue.
    static func sources(_ node: Node, purpose: RamdiskPurpose) throws(IronicError) -> (kernel: String, ramdisk: String) {
        let labels = labels(for: purpose)
        let kernel = node.driverInfo[labels.kernel]?.stringValue ?? ""
        let ramdisk = node.driverInfo[labels.ramdisk]?.stringValue ?? ""
        let missing = [(labels.kernel, kernel), (labels.ramdisk, ramdisk)].filter { $0.1.isEmpty }.map { "'\($0.0)'" }
        guard missing.isEmpty else {
            throw .missingParameterValue(
                "Cannot validate PXE bootloader. Some parameters were missing in node's driver_info and configuration. "
                    + "Missing are: [\(missing.joined(separator: ", "))]")
        }
        for (label, source) in [(labels.kernel, kernel), (labels.ramdisk, ramdisk)] {
            do {
                _ = try ImageSource(source)
            } catch {
                throw .invalidParameterValue(
                    "Node \(node.uuid) driver_info['\(label)'] = '\(source)': expected an http(s) URL, a file:// URL or an absolute path.")
            }
        }
        return (kernel, ramdisk)
    }

    /// The checks of `ipxe`: those of ``validateRamdisk(_:settings:)`` and an `http_url`.
    static func validate(_ task: NodeTask, settings: DeployConfig) throws(IronicError) {
        try validateRamdisk(task, settings: settings)
        guard !settings.httpURL.isEmpty, !settings.httpRoot.isEmpty else {
            throw .missingParameterValue("iPXE boot is enabled but no HTTP URL or HTTP root was specified")
        }
    }

    /// The checks `ipxe` and `pxe` share: kernel and ramdisk named, a pxe-enabled port when
    /// the task carries ports, and a kernel command line that parses.
    static func validateRamdisk(_ task: NodeTask, settings: DeployConfig) throws(IronicError) {
        _ = try sources(task.node, purpose: .deploy)
        let ports = task.ports
        if !ports.isEmpty, !ports.contains(where: \.pxeEnabled) {
            throw .missingParameterValue("Node \(task.node.uuid) does not have any port associated with it with pxe_enabled set")
        }
        _ = try kernelParameters(task.node, settings: settings, purpose: .deploy)
    }

    /// The agent's kernel command line, before `BOOTIF` and `initrd`:
    /// `<kernel_append_params> ipa-api-url=<api> [ipa-insecure=1]
    /// [ipa-inspection-callback-url=<api>/v1/continue_inspection]`.
    ///
    /// `kernel_append_params` comes from the node's `instance_info`, else its `driver_info`,
    /// else `[pxe] kernel_append_params`; `%default%` in a node's value stands for the option.
    static func kernelParameters(_ node: Node, settings: DeployConfig, purpose: RamdiskPurpose) throws(IronicError) -> String {
        var append = settings.kernelAppendParams
        for (location, fields) in [("instance_info", node.instanceInfo), ("driver_info", node.driverInfo)] {
            guard let value = fields["kernel_append_params"]?.stringValue else { continue }
            guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw .invalidParameterValue("node's \(location)['kernel_append_params'] contains malformed kernel command line")
            }
            append = value.replacingOccurrences(of: "%default%", with: settings.kernelAppendParams)
            break
        }
        let api = apiURL(settings)
        var parameters = append.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        parameters.append("ipa-api-url=\(api)")
        if api.lowercased().hasPrefix("http://") { parameters.append("ipa-insecure=1") }
        if purpose == .inspect { parameters.append("ipa-inspection-callback-url=\(inspectionCallbackURL(settings))") }
        return parameters.joined(separator: " ")
    }

    /// `[service_catalog] endpoint_override` without a trailing `/`.
    static func apiURL(_ settings: DeployConfig) -> String {
        var url = settings.apiURL
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// Where the agent posts its inventory: `<api>/v1/continue_inspection` (the API URL may
    /// already end in `/v1`).
    static func inspectionCallbackURL(_ settings: DeployConfig) -> String {
        let api = apiURL(settings)
        return api.hasSuffix("/v1") ? "\(api)/continue_inspection" : "\(api)/v1/continue_inspection"
    }

    /// Fetches the kernel and ramdisk for `purpose` into `<root>/<node uuid>/` (`http_root`,
    /// or `tftp_root` for `pxe`); returns their file names there.
    func fetch(_ task: NodeTask, purpose: RamdiskPurpose) async throws -> (kernel: String, ramdisk: String) {
        let node = task.node
        let labels = Self.labels(for: purpose)
        let sources = try Self.sources(node, purpose: purpose)
        try BootFiles.makeDirectory(files.nodeDirectory(node.uuid))
        async let kernel: Void = images.fetch(source: sources.kernel, checksum: nil, linkAt: files.nodeFile(node.uuid, labels.kernel))
        async let ramdisk: Void = images.fetch(source: sources.ramdisk, checksum: nil, linkAt: files.nodeFile(node.uuid, labels.ramdisk))
        _ = try await (kernel, ramdisk)
        return labels
    }

    /// Removes every entry of `pxelinux.cfg/` that belongs to the node: the task's MACs, and
    /// any link into the node's directory (ports may have changed since the files were written).
    func removeMACEntries(_ task: NodeTask) throws {
        let uuid = task.node.uuid
        for mac in pxeMACs(task.ports) {
            try BootFiles.remove(files.ipxeMACEntry(mac))
            try BootFiles.remove(files.pxelinuxMACEntry(mac))
        }
        let directory = files.macDirectory
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names {
            let path = "\(directory)/\(name)"
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path), target.hasPrefix("../\(uuid)/") {
                try BootFiles.remove(path)
            }
        }
    }

    /// The node's MACs with a warning when there are none (its firmware then finds no script).
    func macs(_ task: NodeTask) -> [String] {
        let macs = pxeMACs(task.ports)
        if macs.isEmpty {
            task.logger.warning("node has no pxe-enabled port: no per-MAC boot entry written, it cannot find its boot script")
        }
        return macs
    }
}
