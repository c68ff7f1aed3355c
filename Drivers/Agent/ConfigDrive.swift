import ChildProcesses
import Core
import Foundation

/// Config drives as the agent takes them: a base64 string of a gzipped ISO 9660 image with
/// the label `config-2` (or a URL to one).
///
/// `instance_info.configdrive` (from the provision request's `configdrive`) is either that
/// string already, passed through, or an object `{"meta_data": {...}, "user_data": ...,
/// "network_data": {...}, "vendor_data": {...}}` that the conductor builds into an ISO with
/// `genisoimage`, as Ironic does.
public enum ConfigDrive {
    /// The value to send the agent (or write for a playbook), or nil when the node has no
    /// config drive.
    public static func value(from configdrive: JSONValue?, node: Node) async throws -> JSONValue? {
        switch configdrive {
        case nil, .null?: return nil
        case .string(let text)?: return text.isEmpty ? nil : .string(text)
        case .object(let contents)?: return .string(try await build(contents, node: node))
        default:
            throw IronicError.invalidParameterValue("Invalid configdrive for node \(node.uuid): a string or an object is expected.")
        }
    }

    /// Builds the ISO from `contents` in a scratch directory and returns it gzipped, in base64.
    static func build(_ contents: [String: JSONValue], node: Node) async throws -> String {
        let fileManager = FileManager.default
        let scratch = fileManager.temporaryDirectory.appendingPathComponent("configdrive-\(UUID().uuidString)")
        defer { try? fileManager.removeItem(at: scratch) }
        let latest = scratch.appendingPathComponent("tree/openstack/latest")
        try fileManager.createDirectory(at: latest, withIntermediateDirectories: true)
        if let problem = ConfigDriveContents.problem(in: contents) {
            throw IronicError.invalidParameterValue("Invalid configdrive for node \(node.uuid): \(problem)")
        }
        var metaData = contents["meta_data"]?.objectValue ?? [:]
        // As Ironic's build_configdrive: the node's own UUID and name unless given.
        if metaData["uuid"] == nil { metaData["uuid"] = .string(node.uuid) }
        if metaData["name"] == nil, let name = node.name { metaData["name"] = .string(name) }
        try write(JSONValue.object(metaData).serialized(), to: latest.appendingPathComponent("meta_data.json"))
        if let network = contents["network_data"], network != .null {
            try write(network.serialized(), to: latest.appendingPathComponent("network_data.json"))
        }
        if let vendor = contents["vendor_data"], vendor != .null {
            try write(vendor.serialized(), to: latest.appendingPathComponent("vendor_data2.json"))
        }
        switch contents["user_data"] {
        case .string(let text)?: try write(text, to: latest.appendingPathComponent("user_data"))
        case nil, .null?: break
        case let other?: try write(other.serialized(), to: latest.appendingPathComponent("user_data"))
        }
        let iso = scratch.appendingPathComponent("configdrive.iso").path
        let tool = ["/usr/bin/genisoimage", "/usr/bin/mkisofs", "/usr/bin/xorrisofs"].first { fileManager.isExecutableFile(atPath: $0) }
        guard let tool else {
            throw IronicError(status: 500, code: "ConfigDriveError", message: "Cannot build the config drive of node \(node.uuid): genisoimage is not installed on the conductor.")
        }
        let (status, output) = try await ChildProcess.run(
            tool, ["-o", iso, "-ldots", "-allow-lowercase", "-allow-multidot", "-l", "-publisher", "swift-ironic", "-quiet", "-J", "-r",
                   "-V", "config-2", scratch.appendingPathComponent("tree").path], timeout: .seconds(60))
        guard status == 0 else {
            throw IronicError(status: 500, code: "ConfigDriveError", message: "Building the config drive of node \(node.uuid) failed: \(output)")
        }
        let (gzipStatus, gzipOutput) = try await ChildProcess.run("/bin/gzip", ["-9n", iso], timeout: .seconds(60))
        guard gzipStatus == 0 else {
            throw IronicError(status: 500, code: "ConfigDriveError", message: "Compressing the config drive of node \(node.uuid) failed: \(gzipOutput)")
        }
        return try Data(contentsOf: URL(fileURLWithPath: iso + ".gz")).base64EncodedString()
    }

    private static func write(_ text: String, to url: URL) throws {
        try Data(text.utf8).write(to: url)
    }
}
