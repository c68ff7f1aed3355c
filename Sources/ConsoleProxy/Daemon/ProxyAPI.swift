import ConsoleProxyAPI
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The REST API: `/v1/consoles` (create, list, show, delete, log), `/healthz`, `/metrics`, and
/// the console page with its static files. Every error is `{"error": {"code", "message"}}`.
enum ProxyAPI {
    /// Largest request body accepted.
    static let maxBodySize = 64 * 1024

    static func router(supervisor: ConsoleSupervisor, config: ProxyConfig) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: ProxyAuthMiddleware(config: config))

        router.get("/healthz") { _, _ in
            json(["status": "ok", "consoles": supervisor.snapshot().count] as [String: any Sendable])
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: ProxyMetrics.render(supervisor.snapshot()))))
        }
        router.post("/v1/consoles") { request, _ in
            let body = try await request.body.collect(upTo: maxBodySize)
            let console = try supervisor.create(try decodeRequest(body))
            return try encoded(console, status: .created)
        }
        router.get("/v1/consoles") { request, _ in
            let node = request.uri.queryParameters.get("node_uuid")
            return try encoded(ConsoleList(consoles: supervisor.list(nodeUUID: node)))
        }
        router.get("/v1/consoles/:id") { _, context in
            try encoded(try supervisor.get(try context.parameters.require("id")))
        }
        router.delete("/v1/consoles/:id") { _, context in
            try await supervisor.delete(try context.parameters.require("id"))
            return Response(status: .noContent)
        }
        router.get("/v1/consoles/:id/log") { _, context in
            let bytes = try await supervisor.log(try context.parameters.require("id"))
            return Response(
                status: .ok, headers: [.contentType: "application/octet-stream"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        ConsolePage.addRoutes(to: router, supervisor: supervisor, config: config)
        return router
    }

    /// Decodes a create request, naming the field that is wrong.
    static func decodeRequest(_ body: ByteBuffer) throws -> ConsoleRequest {
        guard body.readableBytes > 0 else { throw ProxyError.badRequest("The request body is empty; a JSON object is required.") }
        do {
            return try JSONDecoder().decode(ConsoleRequest.self, from: Data(buffer: body))
        } catch let DecodingError.keyNotFound(key, context) {
            throw ProxyError.badRequest("Missing field '\(path(context.codingPath + [key]))'.")
        } catch let DecodingError.typeMismatch(_, context) {
            throw ProxyError.badRequest("Field '\(path(context.codingPath))' has the wrong type: \(context.debugDescription)")
        } catch let DecodingError.valueNotFound(_, context) {
            throw ProxyError.badRequest("Field '\(path(context.codingPath))' must not be null.")
        } catch {
            throw ProxyError.badRequest("The request body is not valid JSON.")
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    static func encoded<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(data: try encoder.encode(value))))
    }

    static func json(_ object: [String: any Sendable]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }

    static func errorResponse(_ error: ProxyError) -> Response {
        let data = (try? JSONEncoder().encode(error.body)) ?? Data()
        return Response(
            status: .init(code: error.status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(data: data)))
    }
}

/// Turns every thrown error into the JSON error body, so no request ends without one.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            return response
        } catch let error as ProxyError {
            return ProxyAPI.errorResponse(error)
        } catch let error as HTTPError {
            let message: String
            switch error.status {
            case .notFound: message = "No such resource: \(request.method.rawValue) \(request.uri.path)."
            case .methodNotAllowed: message = "Method \(request.method.rawValue) is not allowed on \(request.uri.path)."
            case .contentTooLarge: message = "The request body is larger than \(ProxyAPI.maxBodySize) bytes."
            default: message = error.body ?? error.status.reasonPhrase
            }
            return ProxyAPI.errorResponse(ProxyError(status: error.status.code, message: message))
        } catch {
            return ProxyAPI.errorResponse(.internal("\(error)"))
        }
    }
}
