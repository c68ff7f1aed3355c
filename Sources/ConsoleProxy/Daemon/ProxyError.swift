import ConsoleProxyAPI

/// An error the REST API answers with: its HTTP status and a message for people.
public struct ProxyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// HTTP status.
    public var status: Int
    /// What went wrong.
    public var message: String

    /// Creates an error.
    public init(status: Int, message: String) {
        self.status = status
        self.message = message
    }

    /// 400.
    public static func badRequest(_ message: String) -> ProxyError { ProxyError(status: 400, message: message) }
    /// 404 for a console id.
    public static func notFound(_ id: String) -> ProxyError { ProxyError(status: 404, message: "Console \(id) could not be found.") }
    /// 409.
    public static func conflict(_ message: String) -> ProxyError { ProxyError(status: 409, message: message) }
    /// 500.
    public static func `internal`(_ message: String) -> ProxyError { ProxyError(status: 500, message: message) }
    /// 503.
    public static func unavailable(_ message: String) -> ProxyError { ProxyError(status: 503, message: message) }

    /// `status: message`.
    public var description: String { "\(status): \(message)" }

    /// The JSON body.
    public var body: ProxyErrorBody { ProxyErrorBody(code: status, message: message) }
}
