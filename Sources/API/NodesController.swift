import Core
import Foundation
import HTTPTypes
import Hummingbird
import RPC
import Store

extension IronicAPI {
    func registerNodeRoutes(_ router: inout APIRouter) {
        router.add(.get, "nodes") { try await listNodes($0, detail: nil) }
        router.add(.get, "nodes/detail") { try await listNodes($0, detail: true) }
        router.add(.post, "nodes") { try await createNode($0) }
        router.add(.get, "nodes/:node") { try await showNode($0) }
        router.add(.patch, "nodes/:node") { try await patchNode($0) }
        router.add(.delete, "nodes/:node") { try await deleteNode($0) }
    }

    // MARK: Lookup

    /// The node a path names, by UUID or (from 1.5) by name.
    func node(_ ident: String, _ request: APIRequest) async throws -> Node {
        if UUIDText.isValid(ident) { return try await store.node(uuid: ident.lowercased()) }
        guard request.allows(5) else { throw IronicError.invalidUUID(ident) }
        guard LogicalName.isValid(ident) else { throw IronicError.invalidUUIDOrName(ident) }
        return try await store.node(name: ident)
    }

    func renderer(_ request: APIRequest) async throws -> NodeRenderer {
        guard request.allows(49) else { return NodeRenderer(request: request, conductorFor: { _ in nil }) }
        let ring = try await ring.snapshot()
        return NodeRenderer(request: request, conductorFor: { node in ring.owner(of: node) })
    }

    /// A live conductor must serve the node's driver and group: Ironic's 400 `NoValidHost`
    /// when none is registered, 503 when those registered are not alive.
    func requireConductor(for node: Node) async throws {
        _ = try await ring.requireOwner(of: node)
    }

    // MARK: Handlers

    func listNodes(_ request: APIRequest, detail: Bool?) async throws -> Response {
        var wantDetail = detail ?? false
        if detail == nil, let flag = try request.boolQuery("detail") {
            guard request.allows(43) else { throw IronicError.invalidParameterValue("Invalid query parameter ?detail=\(flag ? "True" : "False") received.") }
            wantDetail = flag
        }
        let renderer = try await renderer(request)
        let fields = try request.fieldsQuery(allowed: renderer.visibleFieldNames, resource: "nodes")
        if fields != nil && detail == true {
            throw IronicError.badRequest("Can not specify ?detail=True and fields in the same request.")
        }
        let paging = try Pagination(request, maxLimit: config.maxLimit, sortKeys: NodeQuery.sortKeys)
        if let sortKey = request.query["sort_key"], !renderer.visibleFieldNames.union(["id"]).contains(sortKey) {
            throw IronicError.notAcceptable("Request not acceptable.")
        }
        var query = NodeQuery(page: paging.page)
        try applyNodeFilters(request, to: &query)
        var nodes = try await store.nodes(query)
        if let conductor = request.query["conductor"] {
            // As Ironic: the page read from the database, narrowed to the nodes the hash ring
            // maps to that conductor (nodes no live conductor serves match none).
            guard request.allows(49) else { throw IronicError.notAcceptable("Request not acceptable.") }
            nodes = nodes.filter { renderer.conductorFor($0) == conductor }
        }
        let items = nodes.map { renderer.render($0, fields: fields, detail: wantDetail) }
        let resource = detail == true ? "nodes/detail" : "nodes"
        return APIResponse.json(paging.collection("nodes", items, request: request, resource: resource, lastUUID: nodes.last?.uuid))
    }

    private func applyNodeFilters(_ request: APIRequest, to query: inout NodeQuery) throws(IronicError) {
        func gated(_ name: String, _ minor: Int) throws(IronicError) -> String? {
            guard let value = request.query[name] else { return nil }
            guard request.allows(minor) else { throw .notAcceptable("Request not acceptable.") }
            return value
        }
        query.maintenance = try request.boolQuery("maintenance")
        query.associated = try request.boolQuery("associated")
        if let uuid = request.query["instance_uuid"] {
            guard UUIDText.isValid(uuid) else { throw .invalidUUID(uuid) }
            query.instanceUUID = uuid.lowercased()
        }
        if let chassis = request.query["chassis_uuid"] {
            guard UUIDText.isValid(chassis) else { throw .invalidUUID(chassis) }
            query.chassisUUID = chassis.lowercased()
        }
        if let state = try gated("provision_state", 9) {
            guard let parsed = ProvisionState(rawValue: state) else {
                throw .badRequest("Invalid provision state: \(state)")
            }
            query.provisionState = parsed
        }
        query.driver = try gated("driver", 16)
        query.resourceClass = try gated("resource_class", 21)
        if let fault = try gated("fault", 42) {
            guard Fault(rawValue: fault) != nil else {
                throw .badRequest("Unknown fault: \(fault). Valid faults are: \(Fault.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.fault = fault
        }
        query.conductorGroup = try gated("conductor_group", 46)?.lowercased()
        query.owner = try gated("owner", 50)
        query.descriptionContains = try gated("description_contains", 51)
        if try gated("retired", 61) != nil { query.retired = try request.boolQuery("retired") }
        query.lessee = try gated("lessee", 65)
    }

    func showNode(_ request: APIRequest) async throws -> Response {
        let node = try await node(request.parameter("node"), request)
        let renderer = try await renderer(request)
        let fields = try request.fieldsQuery(allowed: renderer.visibleFieldNames, resource: "nodes")
        return APIResponse.json(renderer.render(node, fields: fields))
    }

    func createNode(_ request: APIRequest) async throws -> Response {
        let body = try request.jsonObject()
        var node = Node(driver: "")
        guard body["driver"] != nil else {
            throw IronicError.badRequest("Invalid input for field/attribute driver. Value: None. Mandatory field missing.")
        }
        for (name, value) in body.sorted(by: { $0.key < $1.key }) {
            guard let field = Node.fieldsByName[name], field.creatable else {
                throw IronicError.badRequest("Additional properties are not allowed ('\(name)' was unexpected)")
            }
            guard request.allows(field.minimumAPIMinor) else { throw IronicError.notAcceptable("Request not acceptable.") }
            try field.set?(&node, value)
        }
        if body["uuid"] == nil || body["uuid"] == .null { node.uuid = UUID().uuidString.lowercased() }
        node.provisionState = request.allows(11) ? .enroll : .available
        node.powerState = nil
        if let rc = node.resourceClass, rc.isEmpty { node.resourceClass = nil }
        try await requireConductor(for: node)
        let created = try await conductor.createNode(CreateNodeRequest(context: request.context, node: node))
        var headers = HTTPFields()
        headers[.location] = "\(request.baseURL)/v1/nodes/\(created.uuid)"
        return APIResponse.json(try await renderer(request).render(created), status: .created, headers: headers)
    }

    func patchNode(_ request: APIRequest) async throws -> Response {
        let patch = try JSONPatch(try request.jsonBody())
        let current = try await node(request.parameter("node"), request)
        for field in patch.rootFields {
            guard let nodeField = Node.fieldsByName[field], nodeField.patchable else {
                let allowed = Node.fields.filter(\.patchable).map(\.name).sorted().joined(separator: ", ")
                throw IronicError.badRequest("Cannot patch /\(field). Only the following can be updated: \(allowed)")
            }
            guard request.allows(nodeField.minimumAPIMinor) else { throw IronicError.notAcceptable("Request not acceptable.") }
        }
        var resetInterfaces: Set<InterfaceKind> = []
        if let reset = try request.boolQuery("reset_interfaces") {
            guard request.allows(45) else { throw IronicError.notAcceptable("Request not acceptable.") }
            guard patch.rootFields.contains("driver") else {
                throw IronicError.badRequest("The reset_interfaces parameter can be provided only when changing the node's driver.")
            }
            if reset { resetInterfaces = Set(InterfaceKind.allCases).subtracting(patch.rootFields.compactMap(Self.interfaceKind)) }
        }
        // Checked here on the current copy for a quick answer; the conductor applies the
        // patch again to the stored node under its lock.
        let (candidate, changed) = try current.applying(patch)
        if changed.contains("driver") || changed.contains("conductor_group") {
            try await requireConductor(for: candidate)
        }
        if changed.contains("instance_uuid"), let existing = current.instanceUUID, patch.operations.contains(where: {
            $0.path == ["instance_uuid"] && $0.value != nil && $0.value != .null
        }) {
            throw IronicError.nodeAssociated(current.uuid, instance: existing)
        }
        if changed.isEmpty {
            return APIResponse.json(try await renderer(request).render(current))
        }
        let saved = try await conductor.updateNode(
            UpdateNodeRequest(context: request.context, nodeUUID: current.uuid, patch: patch, resetInterfaces: resetInterfaces))
        return APIResponse.json(try await renderer(request).render(saved))
    }

    static func interfaceKind(_ field: String) -> InterfaceKind? {
        guard field.hasSuffix("_interface") else { return nil }
        return InterfaceKind(rawValue: String(field.dropLast("_interface".count)))
    }

    func deleteNode(_ request: APIRequest) async throws -> Response {
        let node = try await node(request.parameter("node"), request)
        try await conductor.destroyNode(NodeRequest(context: request.context, nodeUUID: node.uuid))
        return APIResponse.noContent()
    }
}
