import Core
import Foundation
import HTTPTypes
import Hummingbird
import RPC

/// One API request, parsed: method, path parameters, query, negotiated microversion and body.
public struct APIRequest: Sendable {
    public let method: HTTPRequest.Method
    /// Path parameters by the name in the route pattern (`node`, `port`, ...).
    public let parameters: [String: String]
    /// Query parameters (last value wins), percent-decoded.
    public let query: [String: String]
    /// Negotiated API minor version.
    public let minor: Int
    /// Base URL for links, without a trailing slash (`http://127.0.0.1:6385`).
    public let baseURL: String
    public let context: RPC.RequestContext
    let bodyBytes: [UInt8]

    /// Path parameter `name` (routes guarantee it exists).
    public func parameter(_ name: String) -> String { parameters[name] ?? "" }

    /// Whether the request's microversion is at least 1.`minor`.
    public func allows(_ minor: Int) -> Bool { self.minor >= minor }

    /// The body as JSON; 400 when missing or malformed.
    public func jsonBody() throws(IronicError) -> JSONValue {
        guard !bodyBytes.isEmpty else { throw .badRequest("Request body is empty: a JSON document is required.") }
        return try JSONValue.parse(bodyBytes)
    }

    /// The body as a JSON object; 400 otherwise.
    public func jsonObject() throws(IronicError) -> [String: JSONValue] {
        let body = try jsonBody()
        guard let object = body.objectValue else {
            throw .badRequest("Invalid request body: expected a JSON object, got \(body.typeName).")
        }
        return object
    }

    /// Whether the request carried a body.
    public var hasBody: Bool { !bodyBytes.isEmpty }

    /// A Boolean query parameter (Ironic's accepted spellings); 400 on anything else.
    public func boolQuery(_ name: String) throws(IronicError) -> Bool? {
        guard let raw = query[name] else { return nil }
        do {
            return try JSONValue.string(raw).flexibleBool(field: name)
        } catch {
            throw .badRequest("Invalid value for \(name): '\(raw)'. Expected a Boolean.")
        }
    }

    /// `fields=a,b,c`, checked against `allowed`; nil when absent.
    public func fieldsQuery(allowed: Set<String>, resource: String) throws(IronicError) -> [String]? {
        guard let raw = query["fields"] else { return nil }
        guard allows(8) else { throw .notAcceptable("Request not acceptable.") }
        let fields = raw.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let unknown = fields.filter { !allowed.contains($0) }
        guard unknown.isEmpty else {
            throw .badRequest("Field(s) \"\(unknown.joined(separator: ", "))\" are not valid")
        }
        return fields
    }
}

/// Builds Ironic-style responses.
public enum APIResponse {
    static let jsonContentType = "application/json"

    /// A JSON response.
    public static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var text = ""
        text.reserveCapacity(1024)
        value.write(to: &text)
        var fields = headers
        fields[.contentType] = jsonContentType
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// 204 No Content.
    public static func noContent() -> Response {
        Response(status: .noContent)
    }

    /// 202 Accepted with a `Location` header (Ironic's answer to asynchronous actions).
    public static func accepted(location: String) -> Response {
        var headers = HTTPFields()
        headers[.location] = location
        return Response(status: .accepted, headers: headers)
    }

    /// Ironic's error body: `{"error_message": "<JSON text of faultstring/faultcode/debuginfo>"}`.
    public static func error(_ error: IronicError) -> Response {
        let inner: JSONValue = [
            "faultstring": .string(error.message), "faultcode": .string(error.faultCode), "debuginfo": .null,
        ]
        let status = HTTPResponse.Status(code: error.status)
        return json(["error_message": .string(inner.serialized())], status: status)
    }
}
