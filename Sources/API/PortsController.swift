import Core
import Foundation
import HTTPTypes
import Hummingbird
import RPC
import Store

extension IronicAPI {
    func registerPortRoutes(_ router: inout APIRouter) {
        router.add(.get, "ports") { try await listPorts($0, scope: .all, detailRoute: false) }
        router.add(.get, "ports/detail") { try await listPorts($0, scope: .all, detailRoute: true) }
        router.add(.post, "ports") { try await createPort($0) }
        router.add(.get, "ports/:port") { try await showPort($0) }
        router.add(.patch, "ports/:port") { try await patchPort($0) }
        router.add(.delete, "ports/:port") { try await deletePort($0) }
        router.add(.get, "nodes/:node/ports") { try await listPorts($0, scope: .node, detailRoute: false) }
        router.add(.get, "nodes/:node/ports/detail") { try await listPorts($0, scope: .node, detailRoute: true) }
        router.add(.get, "portgroups/:portgroup/ports") { try await listPorts($0, scope: .portgroup, detailRoute: false) }
        router.add(.get, "portgroups/:portgroup/ports/detail") { try await listPorts($0, scope: .portgroup, detailRoute: true) }
    }

    /// Which ports a list request covers: all, one node's (`/nodes/{node}/ports`) or one
    /// portgroup's (`/portgroups/{portgroup}/ports`, from 1.24).
    enum PortListScope {
        case all, node, portgroup
    }

    static let portSchema = SchemaCheck(resource: "port")

    func portView(_ request: APIRequest) -> ResourceView<NodePort> {
        ResourceView(
            request: request, table: NodePort.fields, collection: "ports", uuid: \.uuid, subresources: [],
            summaryFields: ["uuid", "address"])
    }

    /// The port a path names: only by UUID at the versions this service implements.
    func port(_ ident: String) async throws -> NodePort {
        guard UUIDText.isValid(ident) else { throw IronicError.invalidUUID(ident) }
        return try await store.port(uuid: ident.lowercased())
    }

    // MARK: Handlers

    func listPorts(_ request: APIRequest, scope: PortListScope, detailRoute: Bool) async throws -> Response {
        if scope == .portgroup, !request.allows(24) { throw IronicError.notFound() }
        let view = portView(request)
        let wanted = try view.listFields(detailRoute: detailRoute)
        let paging = try Pagination(request, maxLimit: config.maxLimit, sortKeys: PortQuery.sortKeys)
        try view.checkSortKey()
        var query = PortQuery(page: paging.page)
        var resource = detailRoute ? "ports/detail" : "ports"

        var nodeIdent: String?
        var portgroupIdent: String?
        switch scope {
        case .all:
            if let uuid = request.query["node_uuid"] {
                guard UUIDText.isValid(uuid) else { throw IronicError.invalidParameterValue("Expected UUID for node_uuid: \(uuid)") }
                nodeIdent = uuid
            } else if let ident = request.query["node"] {
                nodeIdent = try Self.uuidOrName(ident, parameter: "node")
                if !UUIDText.isValid(ident), !request.allows(5) { throw IronicError.notAcceptable("Request not acceptable.") }
            }
            if let ident = request.query["portgroup"] {
                guard request.allows(24) else { throw IronicError.notAcceptable("Request not acceptable.") }
                portgroupIdent = try Self.uuidOrName(ident, parameter: "portgroup")
            }
        case .node:
            nodeIdent = request.parameter("node")
            if let ident = request.query["portgroup"] {
                guard request.allows(24) else { throw IronicError.notAcceptable("Request not acceptable.") }
                portgroupIdent = try Self.uuidOrName(ident, parameter: "portgroup")
            }
        case .portgroup:
            portgroupIdent = request.parameter("portgroup")
        }
        var address: String?
        if let raw = request.query["address"] {
            guard let mac = MACAddress.normalized(raw) else {
                throw IronicError.invalidParameterValue("Expected valid MAC address for address: \(raw)")
            }
            address = mac
        }
        if nodeIdent != nil, portgroupIdent != nil {
            throw IronicError(status: 403, code: "OperationNotPermitted", message: "Operation not permitted.")
        }
        // As in Ironic, a node or portgroup filter takes precedence over `address`.
        if let portgroupIdent {
            let group = try await portgroup(portgroupIdent, request)
            query.portgroupUUID = group.uuid
            if scope == .portgroup { resource = "portgroups/\(portgroupIdent)/\(resource)" }
        } else if let nodeIdent {
            let node = try await node(nodeIdent, request)
            query.nodeUUID = node.uuid
            if scope == .node { resource = "nodes/\(nodeIdent)/\(resource)" }
        } else {
            query.address = address
        }
        let ports = try await store.ports(query)
        let items = ports.map { view.render($0, fields: wanted) }
        return APIResponse.json(paging.collection("ports", items, request: request, resource: resource, lastUUID: ports.last?.uuid))
    }

    func showPort(_ request: APIRequest) async throws -> Response {
        let view = portView(request)
        let port = try await port(request.parameter("port"))
        let fields = try view.fieldsQuery()
        return APIResponse.json(view.render(port, fields: fields))
    }

    func createPort(_ request: APIRequest) async throws -> Response {
        let body = try request.jsonObject()
        let view = portView(request)
        let schema = Self.portSchema
        try view.checkCreatable(body, schema: schema)
        for required in ["address", "node_uuid"] where body[required] == nil {
            throw schema.required(required)
        }
        var port = NodePort(address: "", nodeUUID: "")
        for field in NodePort.fields {
            guard let value = body[field.name] else { continue }
            try field.set?(&port, value)
        }
        try checkLocalLink(port, request)
        _ = try await referencedNode(port.nodeUUID)
        if port.isSmartNIC, !LocalLinkConnection.isValidForSmartNIC(port.localLinkConnection) {
            throw IronicError(status: 400, code: "Invalid", message: "Smart NIC port must have port_id and hostname in local_link_connection")
        }
        if let groupUUID = port.portgroupUUID {
            let group = try await referencedPortgroup(groupUUID)
            guard group.nodeUUID == port.nodeUUID else {
                throw IronicError.badRequest("Port can not be added to a portgroup belonging to a different node.")
            }
            if port.pxeEnabled, body["pxe_enabled"].map({ $0 != .null }) ?? false, !group.standalonePortsSupported {
                throw IronicError.conflict(
                    "Port group \(group.uuid) doesn't support standalone ports. This port cannot be created as a member of that portgroup as the port's 'pxe_enabled' field was set to True.")
            }
        }
        let created = try await conductor.createPort(PortRequest(context: request.context, port: port))
        var headers = HTTPFields()
        headers[.location] = "\(request.baseURL)/v1/ports/\(created.uuid)"
        return APIResponse.json(view.render(created, fields: nil), status: .created, headers: headers)
    }

    func patchPort(_ request: APIRequest) async throws -> Response {
        let patch = try JSONPatch(try request.jsonBody())
        let view = portView(request)
        try view.checkPatchable(patch)
        let current = try await port(request.parameter("port"))
        let (updated, changed) = try view.apply(patch, to: current)
        if changed.isEmpty { return APIResponse.json(view.render(current, fields: nil)) }
        try checkLocalLink(updated, request)
        if updated.isSmartNIC, !LocalLinkConnection.isValidForSmartNIC(updated.localLinkConnection) {
            throw IronicError(status: 400, code: "Invalid", message: "Smart NIC port must have port_id and hostname in local_link_connection")
        }
        if changed.contains("node_uuid") { _ = try await referencedNode(updated.nodeUUID) }
        if let groupUUID = updated.portgroupUUID, !changed.isDisjoint(with: ["portgroup_uuid", "pxe_enabled", "node_uuid"]) {
            let group = try await referencedPortgroup(groupUUID)
            guard group.nodeUUID == updated.nodeUUID else {
                throw IronicError.badRequest("Port can not be added to a portgroup belonging to a different node.")
            }
            if updated.pxeEnabled, !group.standalonePortsSupported {
                throw IronicError.conflict(
                    "Port group \(group.uuid) doesn't support standalone ports. This port cannot be a member of that portgroup as the port's 'pxe_enabled' field is True.")
            }
        }
        let saved = try await conductor.updatePort(PortRequest(context: request.context, port: updated))
        return APIResponse.json(view.render(saved, fields: nil))
    }

    func deletePort(_ request: APIRequest) async throws -> Response {
        let port = try await port(request.parameter("port"))
        try await conductor.destroyPort(PortRequest(context: request.context, port: port))
        return APIResponse.noContent()
    }

    // MARK: Checks

    /// `network_type` in `local_link_connection` came with 1.64.
    private func checkLocalLink(_ port: NodePort, _ request: APIRequest) throws(IronicError) {
        if port.localLinkConnection["network_type"] != nil, !request.allows(64) {
            throw .notAcceptable("Request not acceptable.")
        }
    }

    /// The node a body references; a missing one is the client's mistake (400, not 404).
    func referencedNode(_ uuid: String) async throws -> Node {
        do {
            return try await store.node(uuid: uuid)
        } catch let error as IronicError where error.status == 404 {
            throw IronicError(status: 400, code: "NodeNotFound", message: error.message)
        }
    }

    /// The portgroup a body references; a missing one is 400.
    func referencedPortgroup(_ uuid: String) async throws -> Portgroup {
        do {
            return try await store.portgroup(uuid: uuid)
        } catch let error as IronicError where error.status == 404 {
            throw IronicError(status: 400, code: "PortgroupNotFound", message: error.message)
        }
    }

    /// A query parameter naming a resource by UUID or logical name.
    static func uuidOrName(_ ident: String, parameter: String) throws(IronicError) -> String {
        guard UUIDText.isValid(ident) || LogicalName.isValid(ident) else {
            throw .invalidParameterValue("Expected UUID or name for \(parameter): \(ident)")
        }
        return ident
    }
}

/// How a port, portgroup or chassis looks at a request's microversion, and the request
/// checks shared by their controllers (`fields`, `detail`, `sort_key`, create bodies, patches).
struct ResourceView<Resource: Sendable> {
    let request: APIRequest
    let table: [ResourceField<Resource>]
    /// Collection name in URLs (`ports`).
    let collection: String
    let uuid: @Sendable (Resource) -> String
    /// Sub-collections linked from a resource (`ports` of a portgroup, `nodes` of a chassis).
    let subresources: [String]
    /// Fields of a list without `detail`.
    let summaryFields: [String]

    /// Every name `fields` may list, whatever the version.
    var knownNames: Set<String> { Set(table.map(\.name)).union(subresources).union(["links"]) }

    /// Names visible at the request's version.
    var visibleNames: Set<String> {
        Set(table.filter { request.allows($0.minimumAPIMinor) }.map(\.name)).union(subresources).union(["links"])
    }

    /// `fields=`: 406 for a field newer than the request, 400 for an unknown one.
    func fieldsQuery() throws(IronicError) -> [String]? {
        guard let fields = try request.fieldsQuery(allowed: knownNames, resource: collection) else { return nil }
        if fields.contains(where: { !visibleNames.contains($0) }) { throw .notAcceptable("Request not acceptable.") }
        return fields
    }

    /// The fields a list shows: `nil` for everything (`/detail`, `?detail=true`), else the
    /// requested `fields` or the summary.
    func listFields(detailRoute: Bool) throws(IronicError) -> [String]? {
        if detailRoute {
            if request.query["fields"] != nil {
                throw .badRequest("Can not specify ?detail=True and fields in the same request.")
            }
            return nil
        }
        let detail = try request.boolQuery("detail")
        if let detail, !request.allows(43) {
            throw .invalidParameterValue("Invalid query parameter ?detail=\(detail ? "True" : "False") received.")
        }
        let fields = try fieldsQuery()
        if fields != nil, detail == true {
            throw .invalidParameterValue("Can not specify ?detail=True and fields in the same request.")
        }
        if let fields { return fields }
        return detail == true ? nil : summaryFields
    }

    /// Sorting by a field newer than the request is 406.
    func checkSortKey() throws(IronicError) {
        if let key = request.query["sort_key"], knownNames.contains(key), !visibleNames.contains(key) {
            throw .notAcceptable("Request not acceptable.")
        }
    }

    /// The document: visible fields (all, or those in `fields`), links, sub-collection links.
    func render(_ resource: Resource, fields: [String]?) -> JSONValue {
        let wanted = fields.map(Set.init)
        var document: [String: JSONValue] = [:]
        for field in table where request.allows(field.minimumAPIMinor) {
            if let wanted, !wanted.contains(field.name) { continue }
            document[field.name] = field.get(resource)
        }
        let id = uuid(resource)
        document["links"] = Links.make(request.baseURL, collection, id)
        for sub in subresources where wanted?.contains(sub) ?? true {
            document[sub] = Links.make(request.baseURL, collection, "\(id)/\(sub)")
        }
        return .object(document)
    }

    /// Rejects body keys that are unknown or read-only (400) or newer than the request (406).
    func checkCreatable(_ body: [String: JSONValue], schema: SchemaCheck) throws(IronicError) {
        let unexpected = body.keys.filter { table.first(named: $0)?.creatable != true }.sorted()
        if !unexpected.isEmpty { throw schema.unexpected(unexpected) }
        for name in body.keys where !request.allows(table.first(named: name)!.minimumAPIMinor) {
            throw .notAcceptable("Request not acceptable.")
        }
    }

    /// Rejects patches of read-only or unknown attributes (400) and of fields newer than the
    /// request (406).
    func checkPatchable(_ patch: JSONPatch) throws(IronicError) {
        for operation in patch.operations {
            guard let field = table.first(named: operation.path[0]), field.patchable else {
                let allowed = table.filter(\.patchable).map(\.name).sorted().joined(separator: ", ")
                throw .badRequest("Cannot patch \(operation.rawPath). Only the following can be updated: \(allowed)")
            }
            guard request.allows(field.minimumAPIMinor) else { throw .notAcceptable("Request not acceptable.") }
        }
    }

    /// Applies a checked patch to the patchable fields and validates the changed ones; returns
    /// the new resource and the names of the fields that changed.
    func apply(_ patch: JSONPatch, to current: Resource) throws(IronicError) -> (Resource, Set<String>) {
        var document: [String: JSONValue] = [:]
        for field in table where field.patchable { document[field.name] = field.get(current) }
        let patched = try patch.apply(to: .object(document))
        var updated = current
        var changed: Set<String> = []
        for field in table where field.patchable {
            let newValue = patched[field.name] ?? .null
            if newValue != field.get(current) {
                try field.set?(&updated, newValue)
                changed.insert(field.name)
            }
        }
        return (updated, changed)
    }
}

extension Array {
    /// The field with this wire name.
    func first<R>(named name: String) -> ResourceField<R>? where Element == ResourceField<R> {
        first { $0.name == name }
    }
}
