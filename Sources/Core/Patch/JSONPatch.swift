import Foundation

/// RFC 6902 JSON Patch with Ironic's rules: operations `add`, `replace` and `remove` only,
/// and no new attributes at the root of a resource.
public struct JSONPatch: Sendable, Hashable, Codable {
    /// One operation.
    public struct Operation: Sendable, Hashable, Codable {
        public enum Kind: String, Sendable, Codable { case add, replace, remove }
        public let kind: Kind
        /// Decoded JSON pointer tokens.
        public let path: [String]
        public let rawPath: String
        public let value: JSONValue?
    }

    public let operations: [Operation]

    /// Parses a patch document; 400 with Ironic-style messages on anything malformed.
    public init(_ document: JSONValue) throws(IronicError) {
        guard let items = document.arrayValue else {
            throw .badRequest("Invalid patch: expected a JSON array of operations, got \(document.typeName).")
        }
        var operations: [Operation] = []
        for item in items {
            guard let object = item.objectValue else {
                throw .badRequest("Invalid patch operation \(item.serialized()): expected a JSON object.")
            }
            guard let opName = object["op"]?.stringValue else {
                throw .badRequest("Invalid patch operation \(item.serialized()): 'op' is a required property.")
            }
            guard let kind = Operation.Kind(rawValue: opName) else {
                throw .badRequest("Invalid patch operation \(item.serialized()): '\(opName)' is not one of ['add', 'replace', 'remove'].")
            }
            guard let path = object["path"]?.stringValue else {
                throw .badRequest("Invalid patch operation \(item.serialized()): 'path' is a required property.")
            }
            guard path.hasPrefix("/"), path.count > 1 else {
                throw .badRequest("Invalid patch path '\(path)': it must start with '/' and name an attribute.")
            }
            let tokens = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
                $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            }
            if tokens.contains(where: \.isEmpty) {
                throw .badRequest("Invalid patch path '\(path)': empty path component.")
            }
            if kind != .remove, object["value"] == nil {
                throw .badRequest("Invalid patch operation \(item.serialized()): 'value' is a required property for '\(opName)'.")
            }
            operations.append(Operation(kind: kind, path: tokens, rawPath: path, value: object["value"]))
        }
        self.operations = operations
    }

    /// The root attribute names the patch touches.
    public var rootFields: Set<String> { Set(operations.map { $0.path[0] }) }

    /// Applies the patch to a resource document.
    public func apply(to document: JSONValue) throws(IronicError) -> JSONValue {
        var result = document
        for operation in operations {
            result = try apply(operation, to: result)
        }
        return result
    }

    private func apply(_ operation: Operation, to document: JSONValue) throws(IronicError) -> JSONValue {
        let description = "[{'op': '\(operation.kind.rawValue)', 'path': '\(operation.rawPath)'}]"
        if operation.path.count == 1 {
            guard var root = document.objectValue else { throw .patchError(description, reason: "not an object") }
            let key = operation.path[0]
            switch operation.kind {
            case .add, .replace:
                guard root[key] != nil else {
                    if operation.kind == .add {
                        throw .badRequest("Adding a new attribute (\(operation.rawPath)) to the root of the resource is not allowed.")
                    }
                    throw .patchError(description, reason: "can't replace non-existent object '\(key)'")
                }
                root[key] = operation.value ?? .null
            case .remove:
                guard let existing = root[key] else {
                    throw .patchError(description, reason: "can't remove non-existent object '\(key)'")
                }
                // Ironic resets removed root attributes to their empty value.
                root[key] = existing.objectValue != nil ? .object([:]) : (existing.arrayValue != nil ? .array([]) : .null)
            }
            return .object(root)
        }
        return try update(document, path: operation.path[...], operation: operation, description: description)
    }

    private func update(_ value: JSONValue, path: ArraySlice<String>, operation: Operation, description: String) throws(IronicError) -> JSONValue {
        let key = path.first!
        let rest = path.dropFirst()
        switch value {
        case .object(var object):
            if rest.isEmpty {
                switch operation.kind {
                case .add: object[key] = operation.value ?? .null
                case .replace:
                    guard object[key] != nil else { throw .patchError(description, reason: "can't replace non-existent object '\(key)'") }
                    object[key] = operation.value ?? .null
                case .remove:
                    guard object.removeValue(forKey: key) != nil else {
                        throw .patchError(description, reason: "can't remove non-existent object '\(key)'")
                    }
                }
                return .object(object)
            }
            guard let child = object[key] else { throw .patchError(description, reason: "member '\(key)' not found") }
            object[key] = try update(child, path: rest, operation: operation, description: description)
            return .object(object)
        case .array(var array):
            if rest.isEmpty, operation.kind == .add, key == "-" {
                array.append(operation.value ?? .null)
                return .array(array)
            }
            guard let index = Int(key), index >= 0 else { throw .patchError(description, reason: "invalid array index '\(key)'") }
            if rest.isEmpty {
                switch operation.kind {
                case .add:
                    guard index <= array.count else { throw .patchError(description, reason: "can't insert outside of list") }
                    array.insert(operation.value ?? .null, at: index)
                case .replace:
                    guard index < array.count else { throw .patchError(description, reason: "can't replace outside of list") }
                    array[index] = operation.value ?? .null
                case .remove:
                    guard index < array.count else { throw .patchError(description, reason: "can't remove outside of list") }
                    array.remove(at: index)
                }
                return .array(array)
            }
            guard index < array.count else { throw .patchError(description, reason: "index '\(key)' out of range") }
            array[index] = try update(array[index], path: rest, operation: operation, description: description)
            return .array(array)
        default:
            throw .patchError(description, reason: "'\(key)' cannot be applied to a \(value.typeName)")
        }
    }
}

extension Node {
    /// This node with `patch` applied to its client-writable fields, and the names of the
    /// fields that changed. Every changed value goes through the field's validating setter.
    public func applying(_ patch: JSONPatch) throws(IronicError) -> (node: Node, changed: Set<String>) {
        var document: [String: JSONValue] = [:]
        for field in Node.fields where field.patchable { document[field.name] = field.get(self) }
        let patched = try patch.apply(to: .object(document))
        var updated = self
        var changed: Set<String> = []
        for field in Node.fields where field.patchable {
            let newValue = patched[field.name] ?? .null
            if newValue != field.get(self) {
                try field.set?(&updated, newValue)
                changed.insert(field.name)
            }
        }
        return (updated, changed)
    }
}
