import Core
import Foundation
import Yams

/// The clean steps the `ansible` deploy offers, from its clean steps file (Ironic's
/// `clean_steps.yaml` format): a list of steps, each run as the clean playbook with the
/// `--tags` its `tags` argument gives.
///
/// ```yaml
/// - name: erase_devices_metadata
///   priority: 99
///   interface: deploy
///   args:
///     tags:
///       required: true
///       description: list of playbook tags used to erase partition table on disk devices
///       value:
///         - zap
/// ```
///
/// Only steps of the `deploy` interface are offered (as Ironic); each argument's `value` is
/// the step's argument, the rest describes it.
public enum AnsibleCleanSteps {
    /// The steps of the file at `path`, in file order.
    ///
    /// - Throws: `NodeCleaningFailure` when the file cannot be read or parsed, a step lacks
    ///   `name` or `interface` or a required argument's `value`, or two steps share a name.
    public static func load(path: String, nodeUUID: String) throws(IronicError) -> [ProvisionStep] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw failure(nodeUUID, "Failed to load clean steps from file \(path): \(error.localizedDescription)")
        }
        return try parse(text, source: path, nodeUUID: nodeUUID)
    }

    /// The steps of `yaml` (the content of `source`).
    public static func parse(_ yaml: String, source: String, nodeUUID: String) throws(IronicError) -> [ProvisionStep] {
        let document: JSONValue
        do {
            document = try Yams.load(yaml: yaml).map(json(from:)) ?? .null
        } catch {
            throw failure(nodeUUID, "Failed to load clean steps from file \(source): \(error)")
        }
        guard let list = document.arrayValue else {
            throw failure(nodeUUID, "Failed to load clean steps from file \(source): expected a list of steps, got \(document.typeName)")
        }
        var missing: [(name: String, field: String)] = []
        for value in list {
            guard let step = value.objectValue, let name = step["name"]?.stringValue, !name.isEmpty else {
                missing.append(("undefined", "name"))
                continue
            }
            if step["interface"] == nil { missing.append((name, "interface")) }
            for (argument, info) in (step["args"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                let info = info.objectValue ?? [:]
                if info["required"]?.boolValue == true, info["value"] == nil { missing.append((name, "\(argument).value")) }
            }
        }
        if !missing.isEmpty {
            throw failure(
                nodeUUID, "Malformed clean_steps file: " + missing.map { "name \($0.name), field \($0.field)" }.joined(separator: ", "))
        }
        let names = list.compactMap { $0["name"]?.stringValue }
        guard Set(names).count == names.count else { throw failure(nodeUUID, "Cleaning steps do not have unique names.") }

        return list.compactMap { value -> ProvisionStep? in
            guard let step = value.objectValue, let name = step["name"]?.stringValue,
                let interface = step["interface"]?.stringValue, interface == "deploy"
            else { return nil }
            var args: [String: JSONValue] = [:]
            for (argument, info) in step["args"]?.objectValue ?? [:] { args[argument] = info["value"] ?? .null }
            return ProvisionStep(interface: interface, step: name, priority: step["priority"]?.intValue ?? 0, args: args, inAgent: true)
        }
    }

    /// The value YAML's default schema gives, as JSON.
    static func json(from value: Any) -> JSONValue {
        switch value {
        case let flag as Bool: return .bool(flag)
        case let number as Int: return .int(number)
        case let number as Double: return .double(number)
        case let text as String: return .string(text)
        case let list as [Any]: return .array(list.map(json(from:)))
        case let map as [String: Any]: return .object(map.mapValues(json(from:)))
        case let map as [AnyHashable: Any]:
            var object: [String: JSONValue] = [:]
            for (key, item) in map { object["\(key.base)"] = json(from: item) }
            return .object(object)
        case is NSNull: return .null
        default: return .string("\(value)")
        }
    }

    private static func failure(_ node: String, _ reason: String) -> IronicError {
        IronicError(status: 500, code: "NodeCleaningFailure", message: "Failed to clean node \(node): \(reason)")
    }
}
