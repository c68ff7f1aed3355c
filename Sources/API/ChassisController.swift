import Core
import Foundation
import HTTPTypes
import Hummingbird
import RPC
import Store

extension IronicAPI {
    func registerChassisRoutes(_ router: inout APIRouter) {
        router.add(.get, "chassis") { try await listChassis($0, detailRoute: false) }
        router.add(.get, "chassis/detail") { try await listChassis($0, detailRoute: true) }
        router.add(.post, "chassis") { try await createChassis($0) }
        router.add(.get, "chassis/:chassis") { try await showChassis($0) }
        router.add(.patch, "chassis/:chassis") { try await patchChassis($0) }
        router.add(.delete, "chassis/:chassis") { try await deleteChassis($0) }
        router.add(.get, "chassis/:chassis/nodes") { try await listChassisNodes($0, detailRoute: false) }
        router.add(.get, "chassis/:chassis/nodes/detail") { try await listChassisNodes($0, detailRoute: true) }
    }

    static let chassisSchema = SchemaCheck(resource: "chassis")

    func chassisView(_ request: APIRequest) -> ResourceView<Chassis> {
        ResourceView(
            request: request, table: Chassis.fields, collection: "chassis", uuid: \.uuid, subresources: ["nodes"],
            summaryFields: ["uuid", "description"])
    }

    /// Chassis are only ever named by UUID.
    private func chassisUUID(_ request: APIRequest) throws(IronicError) -> String {
        let ident = request.parameter("chassis")
        guard UUIDText.isValid(ident) else { throw .invalidUUID(ident) }
        return ident.lowercased()
    }

    // MARK: Handlers

    func listChassis(_ request: APIRequest, detailRoute: Bool) async throws -> Response {
        let view = chassisView(request)
        let wanted = try view.listFields(detailRoute: detailRoute)
        let paging = try Pagination(request, maxLimit: config.maxLimit, sortKeys: ChassisSortKeys.all)
        let list = try await store.chassisList(paging.page)
        let items = list.map { view.render($0, fields: wanted) }
        let resource = detailRoute ? "chassis/detail" : "chassis"
        return APIResponse.json(paging.collection("chassis", items, request: request, resource: resource, lastUUID: list.last?.uuid))
    }

    func showChassis(_ request: APIRequest) async throws -> Response {
        let view = chassisView(request)
        let chassis = try await store.chassis(uuid: try chassisUUID(request))
        let fields = try view.fieldsQuery()
        return APIResponse.json(view.render(chassis, fields: fields))
    }

    // Chassis have no node to lock, so, as in Ironic, the API writes them without a conductor.
    func createChassis(_ request: APIRequest) async throws -> Response {
        let body = try request.jsonObject()
        let view = chassisView(request)
        try view.checkCreatable(body, schema: Self.chassisSchema)
        var chassis = Chassis()
        for field in Chassis.fields {
            guard let value = body[field.name] else { continue }
            try field.set?(&chassis, value)
        }
        let created = try await store.createChassis(chassis)
        var headers = HTTPFields()
        headers[.location] = "\(request.baseURL)/v1/chassis/\(created.uuid)"
        return APIResponse.json(view.render(created, fields: nil), status: .created, headers: headers)
    }

    func patchChassis(_ request: APIRequest) async throws -> Response {
        let patch = try JSONPatch(try request.jsonBody())
        let view = chassisView(request)
        try view.checkPatchable(patch)
        let current = try await store.chassis(uuid: try chassisUUID(request))
        let (updated, changed) = try view.apply(patch, to: current)
        if changed.isEmpty { return APIResponse.json(view.render(current, fields: nil)) }
        let saved = try await store.saveChassis(updated)
        return APIResponse.json(view.render(saved, fields: nil))
    }

    func deleteChassis(_ request: APIRequest) async throws -> Response {
        try await store.deleteChassis(uuid: try chassisUUID(request))
        return APIResponse.noContent()
    }

    /// `GET /v1/chassis/{uuid}/nodes`: the node list filtered by chassis (empty for an unknown
    /// chassis, as in Ironic).
    func listChassisNodes(_ request: APIRequest, detailRoute: Bool) async throws -> Response {
        let uuid = try chassisUUID(request)
        let renderer = try await renderer(request)
        var wantDetail = detailRoute
        if !detailRoute, let flag = try request.boolQuery("detail") {
            guard request.allows(43) else {
                throw IronicError.invalidParameterValue("Invalid query parameter ?detail=\(flag ? "True" : "False") received.")
            }
            wantDetail = flag
        }
        let fields = try request.fieldsQuery(allowed: renderer.visibleFieldNames, resource: "nodes")
        if fields != nil && wantDetail {
            throw IronicError.badRequest("Can not specify ?detail=True and fields in the same request.")
        }
        let paging = try Pagination(request, maxLimit: config.maxLimit, sortKeys: NodeQuery.sortKeys)
        var query = NodeQuery(page: paging.page)
        query.chassisUUID = uuid
        let nodes = try await store.nodes(query)
        let items = nodes.map { renderer.render($0, fields: fields, detail: wantDetail) }
        let resource = "chassis/\(uuid)/nodes" + (detailRoute ? "/detail" : "")
        return APIResponse.json(paging.collection("nodes", items, request: request, resource: resource, lastUUID: nodes.last?.uuid))
    }
}
