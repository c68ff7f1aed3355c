import Core
import Foundation
import Logging

/// The server side of JSON-RPC: decodes a call, invokes it on the local conductor, encodes
/// the reply. Transport-free (bytes in, bytes out), so the HTTP listener stays thin.
public struct JSONRPCDispatcher: Sendable {
    typealias Handler = @Sendable (any ConductorAPI, Data, JSONDecoder) async -> Data

    private let target: any ConductorAPI
    private let handlers: [String: Handler]
    private let logger: Logger

    /// A dispatcher that calls `target` (normally the process's `Conductor`).
    public init(target: any ConductorAPI, logger: Logger) {
        self.target = target
        self.logger = logger
        var handlers: [String: Handler] = [:]
        func add<P, R>(_ method: ConductorMethod<P, R>) { handlers[method.name] = Self.handler(method) }
        add(.createNode)
        add(.updateNode)
        add(.destroyNode)
        add(.changePowerState)
        add(.doProvisioningAction)
        add(.setConsoleMode)
        add(.consoleInformation)
        add(.consoleLog)
        add(.setBootDevice)
        add(.bootDevice)
        add(.supportedBootDevices)
        add(.injectNMI)
        add(.validateDriverInterfaces)
        add(.listVIFs)
        add(.attachVIF)
        add(.detachVIF)
        add(.setTraits)
        add(.removeTraits)
        add(.setMaintenance)
        add(.createPort)
        add(.updatePort)
        add(.destroyPort)
        add(.createPortgroup)
        add(.updatePortgroup)
        add(.destroyPortgroup)
        add(.vendorPassthru)
        add(.getNodeWithToken)
        add(.heartbeat)
        add(.continueInspection)
        self.handlers = handlers
    }

    /// Every method name this dispatcher serves.
    public var methodNames: [String] { handlers.keys.sorted() }

    /// Handles one request body. Returns the reply body, or nil for a notification (a call
    /// without `id`, which JSON-RPC answers with nothing).
    public func handle(_ body: Data) async -> Data? {
        let decoder = JSONRPC.makeDecoder()
        let head: JSONRPCRequestHead
        do {
            head = try decoder.decode(JSONRPCRequestHead.self, from: body)
        } catch DecodingError.typeMismatch {
            return Self.reply(id: nil, error: .invalidRequest("the body must be a JSON object with string members (batches are not supported)"))
        } catch {
            return Self.reply(id: nil, error: .parseError("the body is not JSON"))
        }
        guard head.jsonrpc == JSONRPC.version, let method = head.method else {
            return Self.reply(id: head.id, error: .invalidRequest("jsonrpc must be \"2.0\" and method a string"))
        }
        guard let handler = handlers[method] else { return Self.reply(id: head.id, error: .methodNotFound(method)) }
        let reply = await handler(target, body, decoder)
        return head.id == nil ? nil : reply
    }

    private static func handler<P, R>(_ method: ConductorMethod<P, R>) -> Handler {
        { target, body, decoder in
            let request: JSONRPCRequest<P>
            do {
                request = try decoder.decode(JSONRPCRequest<P>.self, from: body)
            } catch {
                return reply(id: try? decoder.decode(JSONRPCRequestHead.self, from: body).id, error: .invalidParams(method.name, "\(error)"))
            }
            do {
                let result = try await method.invoke(target, request.params)
                return encode(JSONRPCResponse(id: request.id, result: result))
            } catch let error as IronicError {
                return reply(id: request.id, error: JSONRPCError(error))
            } catch {
                return reply(id: request.id, error: JSONRPCError(.init(status: 500, code: "IronicException", message: "\(error)")))
            }
        }
    }

    static func reply(id: String?, error: JSONRPCError) -> Data {
        encode(JSONRPCResponse<RPCVoid>(id: id, error: error))
    }

    private static func encode<R>(_ response: JSONRPCResponse<R>) -> Data {
        (try? JSONRPC.makeEncoder().encode(response))
            ?? Data(#"{"jsonrpc":"2.0","id":null,"error":{"code":500,"message":"could not encode the reply"}}"#.utf8)
    }
}
