import Core
import HTTPTypes
import Hummingbird

/// A request handler.
public typealias APIHandler = @Sendable (APIRequest) async throws -> Response

/// Routes of the v1 API: method + path pattern (`nodes/:node/states/power`) → handler.
/// Unknown paths answer 404, known paths with another method 405, both in Ironic's error shape.
public struct APIRouter: Sendable {
    struct Route: Sendable {
        let method: HTTPRequest.Method
        let segments: [String]
        /// The highest microversion this route answers (above `APIVersion.maximumMinor` only
        /// for the ramdisk endpoints, which are complete up to their newest version).
        let maximumMinor: Int
        let handler: APIHandler
    }

    private var routes: [Route] = []

    /// An empty router.
    public init() {}

    /// Adds a route; `pattern` is relative to `/v1`, with `:name` parameters.
    public mutating func add(
        _ method: HTTPRequest.Method, _ pattern: String, maximumMinor: Int = APIVersion.maximumMinor,
        _ handler: @escaping APIHandler
    ) {
        routes.append(Route(
            method: method, segments: pattern.split(separator: "/").map(String.init), maximumMinor: maximumMinor,
            handler: handler))
    }

    /// The route and path parameters for a request path (segments after `/v1`).
    func match(_ method: HTTPRequest.Method, _ segments: [String]) throws(IronicError) -> (Route, [String: String]) {
        var pathMatched = false
        for route in routes where route.segments.count == segments.count {
            var parameters: [String: String] = [:]
            var matches = true
            for (pattern, value) in zip(route.segments, segments) {
                if pattern.hasPrefix(":") {
                    parameters[String(pattern.dropFirst())] = value
                } else if pattern != value {
                    matches = false
                    break
                }
            }
            guard matches else { continue }
            pathMatched = true
            if route.method == method || (method == .head && route.method == .get) {
                return (route, parameters)
            }
        }
        if pathMatched { throw .methodNotAllowed() }
        throw .notFound()
    }
}
