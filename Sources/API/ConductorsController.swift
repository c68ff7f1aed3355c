import Core
import Foundation
import HTTPTypes
import Hummingbird
import Store

extension IronicAPI {
    func registerConductorRoutes(_ router: inout APIRouter) {
        router.add(.get, "conductors") { try await listConductors($0) }
        router.add(.get, "conductors/:hostname") { try await showConductor($0) }
    }

    /// Every field of a conductor document, in Ironic's order.
    static let conductorFieldNames: Set<String> = [
        "hostname", "conductor_group", "alive", "drivers", "created_at", "updated_at", "links",
    ]
    /// Fields of a list without `detail`.
    static let conductorSummaryFields = ["hostname", "conductor_group", "alive"]
    /// Keys conductors may be sorted by.
    static let conductorSortKeys: Set<String> = ["id", "hostname", "conductor_group", "created_at", "updated_at"]

    /// Conductors came with 1.49; older requests get 404.
    private func requireConductors(_ request: APIRequest) throws(IronicError) {
        guard request.allows(49) else { throw .notFound() }
    }

    func renderConductor(_ conductor: ConductorRecord, fields: [String]?, _ request: APIRequest) -> JSONValue {
        var document: [String: JSONValue] = [
            "hostname": .string(conductor.hostname),
            "conductor_group": .string(conductor.conductorGroup),
            "alive": .bool(conductor.isAlive(timeout: heartbeatTimeout)),
            "drivers": .array(conductor.hardwareTypes.map { .string($0.hardwareType) }),
            "created_at": .string(IronicDate.format(conductor.createdAt)),
            "updated_at": .string(IronicDate.format(conductor.updatedAt)),
            "links": Links.make(request.baseURL, "conductors", conductor.hostname),
        ]
        if let fields {
            document = document.filter { fields.contains($0.key) || $0.key == "links" }
        }
        return .object(document)
    }

    // MARK: Handlers

    func listConductors(_ request: APIRequest) async throws -> Response {
        try requireConductors(request)
        let detail = try request.boolQuery("detail")
        let fields = try request.fieldsQuery(allowed: Self.conductorFieldNames, resource: "conductors")
        if fields != nil, detail == true {
            throw IronicError.invalidParameterValue("Can not specify ?detail=True and fields in the same request.")
        }
        let wanted = fields ?? (detail == true ? nil : Self.conductorSummaryFields)

        // Conductors are few and keyed by hostname, so they are paged here rather than in the store.
        var limit = config.maxLimit
        if let raw = request.query["limit"] {
            guard let value = Int(raw) else { throw IronicError.invalidParameterValue("Expected an integer for limit: \(raw)") }
            guard value > 0 else { throw IronicError.badRequest("Limit must be positive") }
            limit = min(value, config.maxLimit)
        }
        let sortKey = request.query["sort_key"] ?? "id"
        guard Self.conductorSortKeys.contains(sortKey) else {
            throw IronicError.invalidParameterValue("The sort_key value \(sortKey) is an invalid field for sorting")
        }
        let ascending: Bool
        switch request.query["sort_dir"] ?? "asc" {
        case "asc": ascending = true
        case "desc": ascending = false
        case let other: throw IronicError.badRequest("Invalid sort direction: \(other). Acceptable values are 'asc' or 'desc'")
        }
        func less(_ lhs: ConductorRecord, _ rhs: ConductorRecord) -> Bool {
            switch sortKey {
            case "conductor_group": (lhs.conductorGroup, lhs.hostname) < (rhs.conductorGroup, rhs.hostname)
            case "created_at": (lhs.createdAt, lhs.hostname) < (rhs.createdAt, rhs.hostname)
            case "updated_at": (lhs.updatedAt, lhs.hostname) < (rhs.updatedAt, rhs.hostname)
            default: lhs.hostname < rhs.hostname
            }
        }
        var conductors = try await store.conductors()
        conductors.sort { ascending ? less($0, $1) : less($1, $0) }
        if let marker = request.query["marker"] {
            guard let index = conductors.firstIndex(where: { $0.hostname == marker }) else {
                throw IronicError.conductorNotFound(marker)
            }
            conductors.removeFirst(index + 1)
        }
        let page = Array(conductors.prefix(limit))
        var document: [String: JSONValue] = ["conductors": .array(page.map { renderConductor($0, fields: wanted, request) })]
        if page.count == limit, let last = page.last {
            var parts: [String] = []
            for key in request.query.keys.sorted() where key != "limit" && key != "marker" {
                parts.append("\(Pagination.escape(key))=\(Pagination.escape(request.query[key]!))")
            }
            parts.append("limit=\(limit)")
            parts.append("marker=\(Pagination.escape(last.hostname))")
            document["next"] = .string("\(request.baseURL)/v1/conductors?\(parts.joined(separator: "&"))")
        }
        return APIResponse.json(.object(document))
    }

    func showConductor(_ request: APIRequest) async throws -> Response {
        try requireConductors(request)
        let fields = try request.fieldsQuery(allowed: Self.conductorFieldNames, resource: "conductors")
        let conductor = try await store.conductor(hostname: request.parameter("hostname"))
        return APIResponse.json(renderConductor(conductor, fields: fields, request))
    }
}
