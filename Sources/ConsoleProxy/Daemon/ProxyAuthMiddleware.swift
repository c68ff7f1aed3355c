import Foundation
import HTTPTypes
import Hummingbird

/// Authenticates REST requests under `/v1` with the configured strategy; `/healthz`,
/// `/metrics` and the console page (which checks the console's own token) pass.
struct ProxyAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let config: ProxyConfig

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/v1") else { return try await next(request, context) }
        guard isAuthorized(request.headers) else {
            // No WWW-Authenticate challenge: Foundation's URLSession on Linux (the conductors'
            // client) waits forever for a credential delegate when it sees one.
            return ProxyAPI.errorResponse(ProxyError(status: 401, message: "Authentication required: \(hint)."))
        }
        return try await next(request, context)
    }

    private var hint: String {
        switch config.authStrategy {
        case .token: "send the shared token in X-Auth-Token"
        case .httpBasic: "use HTTP basic authentication"
        case .noauth: "none"
        }
    }

    func isAuthorized(_ headers: HTTPFields) -> Bool {
        switch config.authStrategy {
        case .noauth:
            return true
        case .token:
            guard let expected = config.authToken else { return false }
            if let given = headers[HTTPField.Name("X-Auth-Token")!], TokenCheck.matches(given, expected) { return true }
            if let authorization = headers[.authorization], authorization.hasPrefix("Bearer "),
                TokenCheck.matches(String(authorization.dropFirst(7)), expected)
            {
                return true
            }
            return false
        case .httpBasic:
            guard let user = config.httpBasicUsername, let password = config.httpBasicPassword,
                let authorization = headers[.authorization], authorization.hasPrefix("Basic "),
                let decoded = Data(base64Encoded: String(authorization.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) })
            else { return false }
            return TokenCheck.matches(decoded, "\(user):\(password)")
        }
    }
}
