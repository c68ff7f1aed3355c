import Core

/// How a node looks on the wire at a given microversion.
struct NodeRenderer: Sendable {
    let request: APIRequest
    /// Conductor hostname for a node (1.49 `conductor` field).
    let conductorFor: @Sendable (Node) -> String?

    /// Fields shown by `GET /v1/nodes` without `detail`.
    static let summaryFields = ["uuid", "name", "instance_uuid", "power_state", "provision_state", "maintenance"]

    /// Before 1.2 `available` was shown as no state at all.
    static func provisionState(_ state: ProvisionState, _ request: APIRequest) -> JSONValue {
        if state == .available && !request.allows(2) { return .null }
        return .string(state.rawValue)
    }

    /// Field names visible at the request's version (for `fields` validation).
    var visibleFieldNames: Set<String> {
        Set(Node.fields.filter { request.allows($0.minimumAPIMinor) }.map(\.name))
    }

    /// The node document: every visible field, or only `fields`, plus links.
    func render(_ node: Node, fields: [String]? = nil, detail: Bool = true) -> JSONValue {
        var document: [String: JSONValue] = [:]
        let wanted = fields.map(Set.init) ?? (detail ? nil : Set(Self.summaryFields))
        for field in Node.fields where request.allows(field.minimumAPIMinor) {
            if let wanted, !wanted.contains(field.name) { continue }
            document[field.name] = value(of: field, node)
        }
        document["links"] = Links.make(request.baseURL, "nodes", node.uuid)
        if detail && fields == nil {
            document["ports"] = Links.make(request.baseURL, "nodes", "\(node.uuid)/ports")
            document["states"] = Links.make(request.baseURL, "nodes", "\(node.uuid)/states")
            if request.allows(24) { document["portgroups"] = Links.make(request.baseURL, "nodes", "\(node.uuid)/portgroups") }
            if request.allows(32) { document["volume"] = Links.make(request.baseURL, "nodes", "\(node.uuid)/volume") }
        }
        return .object(document)
    }

    private func value(of field: NodeField, _ node: Node) -> JSONValue {
        switch field.name {
        case "driver_info": return .object(Secrets.mask(node.driverInfo))
        case "instance_info": return .object(Secrets.mask(node.instanceInfo))
        case "driver_internal_info": return .object(Secrets.maskAgentToken(node.driverInternalInfo))
        case "conductor": return .optional(conductorFor(node))
        case "provision_state": return Self.provisionState(node.provisionState, request)
        default: return field.get(node)
        }
    }
}

/// Ironic hides secrets in `driver_info` and `instance_info` behind `******`.
enum Secrets {
    static let markers = ["password", "pass", "secret", "token", "configdrive", "encryption_key", "authorization", "sys_pswd", "kg_key"]

    static func isSecret(_ key: String) -> Bool {
        let lower = key.lowercased()
        return markers.contains { lower.contains($0) }
    }

    /// `driver_internal_info` with the agent token hidden: only the ramdisk's first lookup sees it.
    static func maskAgentToken(_ info: [String: JSONValue]) -> [String: JSONValue] {
        guard let token = info["agent_secret_token"], !token.isNull else { return info }
        var masked = info
        masked["agent_secret_token"] = "******"
        return masked
    }

    static func mask(_ dictionary: [String: JSONValue]) -> [String: JSONValue] {
        var masked = dictionary
        for (key, value) in dictionary where isSecret(key) && !value.isNull {
            masked[key] = "******"
        }
        return masked
    }
}
