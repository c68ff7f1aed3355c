import Core
import Foundation
import HTTPTypes
import Hummingbird
import RPC
import Store

extension IronicAPI {
    func registerPortgroupRoutes(_ router: inout APIRouter) {
        router.add(.get, "portgroups") { try await listPortgroups($0, nodeScoped: false, detailRoute: false) }
        router.add(.get, "portgroups/detail") { try await listPortgroups($0, nodeScoped: false, detailRoute: true) }
        router.add(.post, "portgroups") { try await createPortgroup($0) }
        router.add(.get, "portgroups/:portgroup") { try await showPortgroup($0) }
        router.add(.patch, "portgroups/:portgroup") { try await patchPortgroup($0) }
        router.add(.delete, "portgroups/:portgroup") { try await deletePortgroup($0) }
        router.add(.get, "nodes/:node/portgroups") { try await listPortgroups($0, nodeScoped: true, detailRoute: false) }
        router.add(.get, "nodes/:node/portgroups/detail") { try await listPortgroups($0, nodeScoped: true, detailRoute: true) }
    }

    static let portgroupSchema = SchemaCheck(resource: "portgroup")

    func portgroupView(_ request: APIRequest) -> ResourceView<Portgroup> {
        ResourceView(
            request: request, table: Portgroup.fields, collection: "portgroups", uuid: \.uuid, subresources: ["ports"],
            summaryFields: ["uuid", "address", "name"])
    }

    /// Portgroups came with 1.23 (their node sub-collection with 1.24); older requests get 404.
    private func requirePortgroups(_ request: APIRequest, _ minor: Int = 23) throws(IronicError) {
        guard request.allows(minor) else { throw .notFound() }
    }

    /// The portgroup a path or filter names, by UUID or logical name.
    func portgroup(_ ident: String, _ request: APIRequest) async throws -> Portgroup {
        if UUIDText.isValid(ident) { return try await store.portgroup(uuid: ident.lowercased()) }
        guard LogicalName.isValid(ident) else {
            throw IronicError.invalidParameterValue("Expected UUID or name for portgroup: \(ident)")
        }
        return try await store.portgroup(name: ident)
    }

    // MARK: Handlers

    func listPortgroups(_ request: APIRequest, nodeScoped: Bool, detailRoute: Bool) async throws -> Response {
        try requirePortgroups(request, nodeScoped ? 24 : 23)
        let view = portgroupView(request)
        let wanted = try view.listFields(detailRoute: detailRoute)
        let paging = try Pagination(request, maxLimit: config.maxLimit, sortKeys: PortgroupQuery.sortKeys)
        try view.checkSortKey()
        var query = PortgroupQuery(page: paging.page)
        var resource = detailRoute ? "portgroups/detail" : "portgroups"

        var nodeIdent = nodeScoped ? request.parameter("node") : nil
        if !nodeScoped, let ident = request.query["node"] {
            nodeIdent = try Self.uuidOrName(ident, parameter: "node")
        }
        var address: String?
        if let raw = request.query["address"] {
            guard let mac = MACAddress.normalized(raw) else {
                throw IronicError.invalidParameterValue("Expected valid MAC address for address: \(raw)")
            }
            address = mac
        }
        if nodeIdent != nil, address != nil {
            throw IronicError(
                status: 400, code: "Invalid", message: "Filtering by node, address, or shard simultaneously is not supported.")
        }
        if let nodeIdent {
            query.nodeUUID = try await node(nodeIdent, request).uuid
            if nodeScoped { resource = "nodes/\(nodeIdent)/\(resource)" }
        }
        query.address = address
        let groups = try await store.portgroups(query)
        let items = groups.map { view.render($0, fields: wanted) }
        return APIResponse.json(
            paging.collection("portgroups", items, request: request, resource: resource, lastUUID: groups.last?.uuid))
    }

    func showPortgroup(_ request: APIRequest) async throws -> Response {
        try requirePortgroups(request)
        let view = portgroupView(request)
        let group = try await portgroup(request.parameter("portgroup"), request)
        let fields = try view.fieldsQuery()
        return APIResponse.json(view.render(group, fields: fields))
    }

    func createPortgroup(_ request: APIRequest) async throws -> Response {
        try requirePortgroups(request)
        let body = try request.jsonObject()
        let view = portgroupView(request)
        let schema = Self.portgroupSchema
        try view.checkCreatable(body, schema: schema)
        guard body["node_uuid"] != nil else { throw schema.required("node_uuid") }
        var group = Portgroup(nodeUUID: "")
        for field in Portgroup.fields {
            guard let value = body[field.name] else { continue }
            try field.set?(&group, value)
        }
        if group.mode == nil { group.mode = Portgroup.defaultMode }
        _ = try await referencedNode(group.nodeUUID)
        if let name = group.name, !LogicalName.isValid(name) {
            throw IronicError.badRequest("Cannot create portgroup with invalid name '\(name)'")
        }
        let created = try await conductor.createPortgroup(PortgroupRequest(context: request.context, portgroup: group))
        var headers = HTTPFields()
        headers[.location] = "\(request.baseURL)/v1/portgroups/\(created.uuid)"
        return APIResponse.json(view.render(created, fields: nil), status: .created, headers: headers)
    }

    func patchPortgroup(_ request: APIRequest) async throws -> Response {
        try requirePortgroups(request)
        let ident = request.parameter("portgroup")
        let patch = try JSONPatch(try request.jsonBody())
        let view = portgroupView(request)
        try view.checkPatchable(patch)
        if patch.operations.contains(where: { $0.kind == .remove && $0.path == ["mode"] }) {
            throw IronicError.badRequest("'mode' is a mandatory attribute and can not be removed")
        }
        for operation in patch.operations where operation.path == ["name"] && operation.kind != .remove {
            if let name = operation.value?.stringValue, !name.isEmpty, !LogicalName.isValid(name) {
                throw IronicError.badRequest("Portgroup \(ident): Cannot change name to invalid name '\(name)'")
            }
        }
        let current = try await portgroup(ident, request)
        let (updated, changed) = try view.apply(patch, to: current)
        if changed.isEmpty { return APIResponse.json(view.render(current, fields: nil)) }
        if changed.contains("node_uuid") { _ = try await referencedNode(updated.nodeUUID) }
        let saved = try await conductor.updatePortgroup(PortgroupRequest(context: request.context, portgroup: updated))
        return APIResponse.json(view.render(saved, fields: nil))
    }

    func deletePortgroup(_ request: APIRequest) async throws -> Response {
        try requirePortgroups(request)
        let group = try await portgroup(request.parameter("portgroup"), request)
        try await conductor.destroyPortgroup(PortgroupRequest(context: request.context, portgroup: group))
        return APIResponse.noContent()
    }
}
