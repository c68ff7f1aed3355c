import Core
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import RPC
import Store

/// The Ironic-compatible REST API: parses requests, negotiates the microversion, reads from
/// the store and asks a conductor (through `ConductorAPI`) for every change.
public struct IronicAPI: HTTPResponder, Sendable {
    public typealias Context = BasicRequestContext

    let store: any Store
    let conductor: any ConductorAPI
    let registry: DriverRegistry
    let config: APIConfig
    let heartbeatTimeout: Duration
    /// Which live conductor owns which node (the `conductor` field, `NoValidHost`).
    let ring: ConductorRing
    let logger: Logger
    private var router = APIRouter()

    static let requestIDHeader = HTTPField.Name("X-OpenStack-Request-Id")!

    /// Creates the API over a store and a conductor client (the local conductor, or a
    /// `ConductorRouter` over `ring`).
    public init(store: any Store, conductor: any ConductorAPI, registry: DriverRegistry, config: APIConfig,
                heartbeatTimeout: Duration, ring: ConductorRing? = nil, logger: Logger) {
        self.store = store
        self.conductor = conductor
        self.registry = registry
        self.config = config
        self.heartbeatTimeout = heartbeatTimeout
        self.ring = ring ?? ConductorRing(store: store, heartbeatTimeout: heartbeatTimeout)
        self.logger = logger
        var router = APIRouter()
        registerRoutes(&router)
        self.router = router
    }

    private func registerRoutes(_ router: inout APIRouter) {
        router.add(.get, "", { request in root(request) })
        registerNodeRoutes(&router)
        registerNodeActionRoutes(&router)
        registerPortRoutes(&router)
        registerPortgroupRoutes(&router)
        registerChassisRoutes(&router)
        registerDriverRoutes(&router)
        registerConductorRoutes(&router)
        registerRamdiskRoutes(&router)
        registerNodeInventoryRoutes(&router)
    }

    public func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        let requestID = "req-\(UUID().uuidString.lowercased())"
        var response: Response
        var versionHeaders = HTTPFields()
        do {
            response = try await handle(request, requestID: requestID, versionHeaders: &versionHeaders)
        } catch let error as IronicError {
            if error.status >= 500 { logger.error("request failed: \(error)", metadata: ["request_id": "\(requestID)"]) }
            response = APIResponse.error(error)
        } catch {
            logger.error("unexpected error: \(error)", metadata: ["request_id": "\(requestID)"])
            response = APIResponse.error(.internalError("An unexpected error prevented the request from completing."))
        }
        response.headers[Self.requestIDHeader] = requestID
        response.headers.append(contentsOf: versionHeaders)
        return response
    }

    private func handle(_ request: Request, requestID: String, versionHeaders: inout HTTPFields) async throws -> Response {
        let path = request.uri.path
        var segments = path.split(separator: "/", omittingEmptySubsequences: true).map { String($0).removingPercentEncoding ?? String($0) }
        let baseURL = baseURL(for: request)
        if segments.isEmpty {
            guard request.method == .get || request.method == .head else { throw IronicError.methodNotAllowed() }
            return APIResponse.json(rootDocument(baseURL: baseURL))
        }
        guard segments.first == "v1" else { throw IronicError.notFound() }
        segments.removeFirst()
        if var last = segments.last, last.hasSuffix(".json") {
            last.removeLast(5)
            segments[segments.count - 1] = last
        }

        versionHeaders[APIVersion.minimumHeader] = APIVersion.minimumString
        versionHeaders[APIVersion.maximumHeader] = APIVersion.maximumString
        let (route, parameters) = try router.match(request.method, segments)
        let minor = try APIVersion.negotiate(request.headers, ceiling: route.maximumMinor)
        versionHeaders[APIVersion.legacyHeader] = "1.\(minor)"
        versionHeaders[APIVersion.standardHeader] = "baremetal 1.\(minor)"
        versionHeaders[.vary] = "X-OpenStack-Ironic-API-Version, OpenStack-API-Version"

        let body = try await readBody(request)
        var query: [String: String] = [:]
        for (key, value) in request.uri.queryParameters {
            query[String(key)] = String(value)
        }
        let apiRequest = APIRequest(
            method: request.method, parameters: parameters, query: query, minor: minor, baseURL: baseURL,
            context: RPC.RequestContext(requestID: requestID), bodyBytes: body)
        return try await route.handler(apiRequest)
    }

    private func readBody(_ request: Request) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > config.maxRequestBodySize {
            throw IronicError.payloadTooLarge(limit: config.maxRequestBodySize)
        }
        var collected: [UInt8] = []
        for try await chunk in request.body {
            collected.append(contentsOf: chunk.readableBytesView)
            if collected.count > config.maxRequestBodySize {
                throw IronicError.payloadTooLarge(limit: config.maxRequestBodySize)
            }
        }
        return collected
    }

    private func baseURL(for request: Request) -> String {
        if let endpoint = config.publicEndpoint, !endpoint.isEmpty {
            return endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        }
        let host = request.head.authority ?? "\(config.hostIP):\(config.port)"
        return "http://\(host)"
    }

    // MARK: Version documents

    func versionDocument(baseURL: String) -> JSONValue {
        [
            "id": "v1",
            "links": [["href": .string("\(baseURL)/v1/"), "rel": "self"]],
            "status": "CURRENT",
            "min_version": .string(APIVersion.minimumString),
            "version": .string(APIVersion.maximumString),
        ]
    }

    func rootDocument(baseURL: String) -> JSONValue {
        [
            "name": "OpenStack Ironic API",
            "description": "Ironic is an OpenStack project which enables the provision and management of baremetal machines.",
            "default_version": versionDocument(baseURL: baseURL),
            "versions": [versionDocument(baseURL: baseURL)],
        ]
    }

    func root(_ request: APIRequest) -> Response {
        func controller(_ name: String) -> JSONValue {
            Links.make(request.baseURL, name, "")
        }
        var document: [String: JSONValue] = [
            "id": "v1",
            "links": [
                ["href": .string("\(request.baseURL)/v1/"), "rel": "self"],
                ["href": "https://docs.openstack.org//ironic/latest/contributor//webapi.html", "rel": "describedby", "type": "text/html"],
            ],
            "media_types": ["base": "application/json", "type": "application/vnd.openstack.ironic.v1+json"],
            "chassis": controller("chassis"),
            "nodes": controller("nodes"),
            "ports": controller("ports"),
            "drivers": controller("drivers"),
            "version": versionDocument(baseURL: request.baseURL),
        ]
        if request.allows(23) { document["portgroups"] = controller("portgroups") }
        if request.allows(49) { document["conductors"] = controller("conductors") }
        return APIResponse.json(.object(document))
    }
}

/// Ironic's `links` lists.
enum Links {
    /// `[{"href": base/v1/resource/id, "rel": "self"}, {"href": base/resource/id, "rel": "bookmark"}]`.
    static func make(_ baseURL: String, _ resource: String, _ id: String) -> JSONValue {
        [
            ["href": .string("\(baseURL)/v1/\(resource)/\(id)"), "rel": "self"],
            ["href": .string("\(baseURL)/\(resource)/\(id)"), "rel": "bookmark"],
        ]
    }
}
