import Core
import Foundation

/// The variables the `ansible` deploy hands its playbooks, in Ironic's shape:
///
/// ```json
/// {"ironic": {"nodes": [{"name": "<node uuid>", "ip": "10.0.0.5", "user": "ansible", "extra": {}, "port": 22}],
///             "image": {"source": "http://...", "url": "http://...", "checksum": "sha256:...",
///                       "disk_format": "qcow2", "mem_req": 1034, "validate_certs": "yes"},
///             "configdrive": {"type": "file", "location": "/tmp/<node uuid>.cndrive"},
///             "root_device_hints": {"serial": "s1", "size": 100}},
///  "ansible_python_interpreter": "/usr/bin/python3"}
/// ```
///
/// `ironic.nodes` lists every host of one `ansible-playbook` run; everything else is shared by
/// the run (the runner only batches jobs whose other variables are identical). `port` (the
/// SSH port) is ours; playbooks written for Ironic ignore it.
public enum AnsibleExtraVars {
    /// One entry of `ironic.nodes`.
    public static func host(uuid: String, ip: String, user: String, extra: [String: JSONValue], port: Int) -> JSONValue {
        .object(["name": .string(uuid), "ip": .string(ip), "user": .string(user), "extra": .object(extra), "port": .int(port)])
    }

    /// The document passed with `-e`: `ironic` holds the nodes and the shared variables.
    public static func document(hosts: [JSONValue], variables: [String: JSONValue], pythonInterpreter: String?) -> JSONValue {
        var ironic = variables
        ironic["nodes"] = .array(hosts)
        var document: [String: JSONValue] = ["ironic": .object(ironic)]
        if let pythonInterpreter, !pythonInterpreter.isEmpty { document["ansible_python_interpreter"] = .string(pythonInterpreter) }
        return .object(document)
    }

    /// The address Ansible reaches the ramdisk at: the host of `driver_internal_info.agent_url`
    /// (the ramdisk's first heartbeat sets it), as Ironic takes it.
    public static func address(of node: Node) throws(IronicError) -> String {
        guard let text = node.driverInternalInfo["agent_url"]?.stringValue, let host = URL(string: text)?.host, !host.isEmpty else {
            throw IronicError(
                status: 500, code: "InstanceDeployFailure",
                message: "Node \(node.uuid) has no agent_url: its ramdisk has not called back yet, so Ansible does not know its address.")
        }
        return host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }

    /// `ironic.image`: every `instance_info.image_*` key without its prefix, with
    /// - `checksum` as `algo:value`: from `image_os_hash_algo`/`image_os_hash_value` when set,
    ///   else `image_checksum` with `md5:` in front when it names no algorithm (Ironic's rule
    ///   for Glance's MD5 checksums; 64 and 128 hex digits are taken as sha256 and sha512);
    /// - `url` (ours, when missing): `image_source` when it is an HTTP(S) URL;
    /// - `disk_format` (ours, when missing): `qcow2` for a `.qcow2` source, else `raw`;
    /// - `validate_certs` `yes` or `no` (`[ansible] image_store_insecure`), and `cafile`,
    ///   `client_cert`, `client_key` when configured.
    public static func image(_ instanceInfo: [String: JSONValue], settings: AnsibleConfig) -> [String: JSONValue] {
        var image: [String: JSONValue] = [:]
        for (key, value) in instanceInfo where key.hasPrefix("image_") && key.count > 6 {
            image[String(key.dropFirst(6))] = value
        }
        if let algorithm = image["os_hash_algo"]?.stringValue, !algorithm.isEmpty,
            let value = image["os_hash_value"]?.stringValue, !value.isEmpty
        {
            image["checksum"] = .string("\(algorithm):\(value)")
        } else if let checksum = image["checksum"]?.stringValue, !checksum.isEmpty, !checksum.contains(":") {
            let algorithm: String
            switch checksum.count {
            case 64 where checksum.allSatisfy(\.isHexDigit): algorithm = "sha256"
            case 128 where checksum.allSatisfy(\.isHexDigit): algorithm = "sha512"
            default: algorithm = "md5"
            }
            image["checksum"] = .string("\(algorithm):\(checksum)")
        }
        let source = image["source"]?.stringValue ?? ""
        if image["url"] == nil, isHTTP(source) { image["url"] = .string(source) }
        if image["disk_format"] == nil {
            image["disk_format"] = .string(source.lowercased().hasSuffix(".qcow2") ? "qcow2" : "raw")
        }
        image["validate_certs"] = .string(settings.imageStoreInsecure ? "no" : "yes")
        if let cafile = settings.imageStoreCAFile, !cafile.isEmpty { image["cafile"] = .string(cafile) }
        if let cert = settings.imageStoreCertFile, let key = settings.imageStoreKeyFile, !cert.isEmpty, !key.isEmpty {
            image["client_cert"] = .string(cert)
            image["client_key"] = .string(key)
        }
        return image
    }

    /// Whether `text` is an `http://` or `https://` URL.
    static func isHTTP(_ text: String) -> Bool {
        let lowered = text.lowercased()
        return lowered.hasPrefix("http://") || lowered.hasPrefix("https://")
    }

    /// Where the config drive of `nodeUUID` is written for a run (Ironic's `<tempdir>/<uuid>.cndrive`).
    public static func configdrivePath(nodeUUID: String, settings: AnsibleConfig) -> String {
        (settings.temporaryDirectory as NSString).appendingPathComponent("\(nodeUUID).cndrive")
    }

    /// `ironic.configdrive` for the node's `instance_info.configdrive`, nil without one. A URL is
    /// passed as `{"type": "url"}`; the content itself (a gzipped ISO in base64) is written to
    /// ``configdrivePath(nodeUUID:settings:)``, readable by the conductor's user only, and
    /// passed as `{"type": "file"}`; that file is in `written`, for removal after the run.
    public static func configdrive(of node: Node, settings: AnsibleConfig) throws -> (variable: JSONValue, written: String?)? {
        switch node.instanceInfo["configdrive"] {
        case nil, .null?:
            return nil
        case .string(let text)?:
            if text.isEmpty { return nil }
            if isHTTP(text) { return (.object(["type": "url", "location": .string(text)]), nil) }
            let path = configdrivePath(nodeUUID: node.uuid, settings: settings)
            try writePrivately(Data(text.utf8), to: path)
            return (.object(["type": "file", "location": .string(path)]), path)
        default:
            throw IronicError.invalidParameterValue("Invalid configdrive for node \(node.uuid): a string is expected.")
        }
    }

    /// Writes `data` to `path` with mode 0600, replacing what was there.
    static func writePrivately(_ data: Data, to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: path)
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw IronicError(status: 500, code: "InstanceDeployFailure", message: "Cannot create \(path) on the conductor.")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.write(contentsOf: data)
    }

    // MARK: Root device hints

    /// The hints Ironic knows, with their types.
    static let hintTypes: [String: HintType] = [
        "size": .int, "model": .string, "wwn": .string, "serial": .string, "vendor": .string,
        "wwn_with_extension": .string, "wwn_vendor_extension": .string, "name": .string, "rotational": .bool,
        "hctl": .string, "by_path": .string,
    ]

    enum HintType { case string, int, bool }

    /// The operators of oslo.utils' spec matcher, longest first so `s==` is not read as `==`.
    static let operators = [
        "<range-in>", "<all-in>", "<or>", "<in>", "s==", "s!=", "s>=", "s<=", "s>", "s<", "==", "!=", ">=", "<=", ">", "<",
    ]

    /// `ironic.root_device_hints` from `instance_info.root_device` (or, without it,
    /// `properties.root_device`), nil without hints. Only plain values are supported, as in
    /// Ironic's ansible deploy: strings (lower-cased), a positive `size` in GiB and a boolean
    /// `rotational`; `== N` and `s== text` are taken as plain values.
    ///
    /// - Throws: `InvalidParameterValue` for unknown or malformed hints, or hints with another
    ///   operator (`>= 100`, `<in> a b`), with Ironic's messages.
    public static func rootDeviceHints(of node: Node) throws(IronicError) -> [String: JSONValue]? {
        let source: String
        let given: [String: JSONValue]
        if let hints = node.instanceInfo["root_device"]?.objectValue, !hints.isEmpty {
            (source, given) = ("instance_info", hints)
        } else if let hints = node.properties["root_device"]?.objectValue, !hints.isEmpty {
            (source, given) = ("properties", hints)
        } else {
            return nil
        }
        func invalid(_ reason: String) -> IronicError {
            .invalidParameterValue(
                "Failed to validate the root device hints \(pythonRepr(.object(given))) (from the node's \(source)) for node \(node.uuid): \(reason)"
            )
        }
        let unknown = given.keys.filter { hintTypes[$0] == nil }.sorted()
        if !unknown.isEmpty {
            throw invalid(
                "The hints \"\(unknown.joined(separator: ", "))\" are invalid. Valid hints are: \"\(hintTypes.keys.sorted().joined(separator: ", "))\""
            )
        }
        var plain: [String: JSONValue] = [:]
        var advanced: [String: JSONValue] = [:]
        for (name, value) in given {
            switch hintTypes[name]! {
            case .bool:
                switch value {
                case .bool(let flag): plain[name] = .bool(flag)
                case .string(let text):
                    switch text.lowercased() {
                    case "1", "t", "true", "on", "y", "yes": plain[name] = .bool(true)
                    case "0", "f", "false", "off", "n", "no": plain[name] = .bool(false)
                    default: throw invalid("Root device hint \"\(name)\" is not a Boolean value. Current value: \(text)")
                    }
                case .int(let number) where number == 0 || number == 1: plain[name] = .bool(number == 1)
                default: throw invalid("Root device hint \"\(name)\" is not a Boolean value. Current value: \(value.serialized())")
                }
            case .int:
                let text: String
                switch value {
                case .int(let number): text = String(number)
                case .string(let string): text = string.trimmingCharacters(in: .whitespaces).lowercased()
                default: throw invalid("Root device hint \"\(name)\" is not an integer value. Current value: \(value.serialized())")
                }
                let (op, rest) = splitOperator(text)
                if !op.isEmpty && op != "==" {
                    advanced[name] = value
                    continue
                }
                guard let number = Int(rest) else {
                    throw invalid("Root device hint \"\(name)\" is not an integer value. Current value: \(text)")
                }
                guard number > 0 else {
                    throw invalid("Root device hint \"\(name)\" should be a positive integer. Current value: \(text)")
                }
                plain[name] = .int(number)
            case .string:
                guard case .string(let string) = value else {
                    throw invalid("Root device hint \"\(name)\" is not a string value. Hint expression: \(value.serialized())")
                }
                let text = string.trimmingCharacters(in: .whitespaces).lowercased()
                guard !text.isEmpty else { throw invalid("Root device hint \"\(name)\" expression is empty") }
                let (op, rest) = splitOperator(text)
                if !op.isEmpty && op != "s==" {
                    advanced[name] = value
                    continue
                }
                plain[name] = .string(rest.removingPercentEncoding ?? rest)
            }
        }
        if !advanced.isEmpty {
            throw .invalidParameterValue(
                "Ansible-deploy does not support advanced root device hints based on oslo.utils operators. Present advanced hints for node \(node.uuid) are \(pythonRepr(.object(advanced)))."
            )
        }
        return plain
    }

    /// The leading operator of a hint expression and the rest, trimmed.
    static func splitOperator(_ text: String) -> (String, String) {
        for op in operators where text.hasPrefix(op) {
            return (op, String(text.dropFirst(op.count)).trimmingCharacters(in: .whitespaces))
        }
        return ("", text)
    }

    /// A value as Python prints it (`{'size': '>= 100'}`), as Ironic's messages show hints.
    static func pythonRepr(_ value: JSONValue) -> String {
        switch value {
        case .null: return "None"
        case .bool(let flag): return flag ? "True" : "False"
        case .int(let number): return String(number)
        case .double(let number): return String(number)
        case .string(let text):
            return "'" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
        case .array(let items): return "[" + items.map(pythonRepr).joined(separator: ", ") + "]"
        case .object(let object):
            return "{" + object.keys.sorted().map { "'\($0)': \(pythonRepr(object[$0]!))" }.joined(separator: ", ") + "}"
        }
    }
}
