import Core
import Foundation

/// JSON-RPC 2.0 as Ironic's conductors speak it: one POST per call, named parameters (an
/// object that includes the request `context`), and errors that carry Ironic's HTTP status in
/// `code` and the exception class in `data.class`, so a 409 NodeLocked raised by a conductor
/// is still a 409 NodeLocked at the API.
public enum JSONRPC {
    /// The version string every message carries.
    public static let version = "2.0"
    /// The prefix of Ironic's exception classes in `error.data.class`.
    public static let exceptionNamespace = "ironic.common.exception."

    /// The coders both ends use, so dates and every model type round-trip exactly.
    public static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        return encoder
    }

    /// See `makeEncoder()`.
    public static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return decoder
    }
}

/// A call: `{"jsonrpc": "2.0", "method": ..., "params": {...}, "id": ...}`.
public struct JSONRPCRequest<Params: Codable & Sendable>: Codable, Sendable {
    public var jsonrpc = JSONRPC.version
    public var method: String
    public var params: Params
    /// The request ID of the API request that caused the call (`req-<uuid>`).
    public var id: String?

    /// Creates a call.
    public init(method: String, params: Params, id: String?) {
        self.method = method
        self.params = params
        self.id = id
    }
}

/// The parts of a call the dispatcher reads before it knows the parameter type.
struct JSONRPCRequestHead: Decodable {
    var jsonrpc: String?
    var method: String?
    var id: String?
}

/// A reply: `result` on success, `error` otherwise.
public struct JSONRPCResponse<Result: Codable & Sendable>: Codable, Sendable {
    public var jsonrpc = JSONRPC.version
    public var id: String?
    public var result: Result?
    public var error: JSONRPCError?

    /// A successful reply.
    public init(id: String?, result: Result) {
        self.id = id
        self.result = result
    }

    /// A failed reply.
    public init(id: String?, error: JSONRPCError) {
        self.id = id
        self.error = error
    }
}

/// A JSON-RPC error object. Ironic errors use their HTTP status as `code`; protocol errors
/// use JSON-RPC's negative codes.
public struct JSONRPCError: Codable, Sendable, Hashable, Error {
    /// `data`: `class` names the Ironic exception (`ironic.common.exception.NodeLocked`).
    public struct Details: Codable, Sendable, Hashable {
        public var `class`: String
    }

    public var code: Int
    public var message: String
    public var data: Details?

    /// Creates an error object.
    public init(code: Int, message: String, data: Details? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    /// The body could not be parsed as JSON.
    public static func parseError(_ detail: String) -> JSONRPCError { .init(code: -32700, message: "Parse error: \(detail)") }
    /// Not a JSON-RPC 2.0 call.
    public static func invalidRequest(_ detail: String) -> JSONRPCError { .init(code: -32600, message: "Invalid request: \(detail)") }
    /// No such method.
    public static func methodNotFound(_ name: String) -> JSONRPCError { .init(code: -32601, message: "Method \(name) was not found") }
    /// Parameters do not match the method.
    public static func invalidParams(_ method: String, _ detail: String) -> JSONRPCError {
        .init(code: -32602, message: "Params are invalid for \(method): \(detail)")
    }

    /// The wire form of an Ironic error.
    public init(_ error: IronicError) {
        self.init(code: error.status, message: error.message, data: Details(class: JSONRPC.exceptionNamespace + error.code))
    }

    /// The Ironic error this object carries: the same status, class and message for Ironic
    /// errors; a 500 naming the protocol failure otherwise.
    public var ironicError: IronicError {
        if (400...599).contains(code), let name = data?.class {
            let code = name.hasPrefix(JSONRPC.exceptionNamespace) ? String(name.dropFirst(JSONRPC.exceptionNamespace.count)) : name
            return IronicError(status: self.code, code: code, message: message)
        }
        if (400...599).contains(code) { return IronicError(status: code, code: "IronicException", message: message) }
        return IronicError(status: 500, code: "JsonRpcError", message: "JSON RPC error \(code): \(message)")
    }
}

/// The `result` of a call that returns nothing: encodes as JSON `null`.
public struct RPCVoid: Codable, Sendable, Hashable {
    /// The only value.
    public init() {}
    public init(from decoder: any Decoder) throws {}
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encodeNil()
    }
}
