import Core
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import HummingbirdCore
import HummingbirdTLS
import NIOCore
import NIOSSL
import RPC

/// A conductor's JSON-RPC endpoint: `POST /` with a JSON-RPC 2.0 call, answered by the
/// process's conductor through `JSONRPCDispatcher`. HTTP basic authentication unless
/// `auth_strategy = noauth`: against `[json_rpc] http_basic_auth_user_file` (an htpasswd file
/// of bcrypt hashes, as Ironic's listener), or else `[json_rpc] username` / `password`.
struct JSONRPCResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    /// Who may call.
    enum Authentication: Sendable {
        case none
        /// The exact `Authorization` value accepted.
        case exact([UInt8])
        case htpasswd(HTPasswdFile)
    }

    let dispatcher: JSONRPCDispatcher
    let authentication: Authentication
    let maxBodySize: Int

    init(dispatcher: JSONRPCDispatcher, config: JSONRPCConfig) throws(ConfigError) {
        self.dispatcher = dispatcher
        self.maxBodySize = 64 << 20
        switch config.authStrategy {
        case .noauth:
            authentication = .none
        case .httpBasic:
            if let file = config.httpBasicAuthUserFile {
                authentication = .htpasswd(try HTPasswdFile(path: file))
            } else if let username = config.username, let password = config.password, !username.isEmpty, !password.isEmpty {
                authentication = .exact(Array(("Basic " + Data("\(username):\(password)".utf8).base64EncodedString()).utf8))
            } else if FileManager.default.fileExists(atPath: JSONRPCConfig.ironicUserFile) {
                authentication = .htpasswd(try HTPasswdFile(path: JSONRPCConfig.ironicUserFile))
            } else {
                throw ConfigError(
                    source: "[json_rpc] auth_strategy",
                    message: "http_basic needs [json_rpc] http_basic_auth_user_file (an htpasswd file; "
                        + "\(JSONRPCConfig.ironicUserFile) when it exists) or username and password (or auth_strategy = noauth)")
            }
        }
    }

    /// Whether the request's `Authorization` header lets it in.
    func isAuthorized(_ header: String?) -> Bool {
        switch authentication {
        case .none:
            return true
        case .exact(let expected):
            return constantTimeEqual(Array((header ?? "").utf8), expected)
        case .htpasswd(let file):
            guard let header, header.lowercased().hasPrefix("basic "),
                let decoded = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
                let pair = String(data: decoded, encoding: .utf8), let colon = pair.firstIndex(of: ":")
            else { return false }
            return file.verify(username: String(pair[..<colon]), password: String(pair[pair.index(after: colon)...]))
        }
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        guard request.method == .post else {
            return Self.json(.methodNotAllowed, #"{"error":{"code":405,"message":"Only POST is supported"}}"#)
        }
        guard isAuthorized(request.headers[.authorization]) else {
            var response = Self.json(.unauthorized, #"{"error":{"code":401,"message":"Authentication required"}}"#)
            response.headers[.wwwAuthenticate] = #"Basic realm="ironic-json-rpc""#
            return response
        }
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: maxBodySize) } catch {
            return Self.json(.contentTooLarge, #"{"error":{"code":413,"message":"Request body too large"}}"#)
        }
        guard let reply = await dispatcher.handle(Data(body.readableBytesView)) else {
            return Response(status: .noContent)
        }
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: reply)))
    }

    private static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

extension ServiceFactory {
    /// The conductor's JSON-RPC listener on `[json_rpc] host_ip:port`, with TLS when
    /// `use_ssl` is on. `onListening` receives the bound port.
    static func makeJSONRPCListener(
        conductor: any ConductorAPI, config: IronicConfig, logger: Logger, onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) throws -> Application<JSONRPCResponder> {
        let responder = try JSONRPCResponder(dispatcher: JSONRPCDispatcher(target: conductor, logger: logger), config: config.jsonRPC)
        var server = HTTPServerBuilder.http1()
        if config.jsonRPC.useSSL, let certFile = config.jsonRPC.certFile, let keyFile = config.jsonRPC.keyFile {
            do {
                let tls = TLSConfiguration.makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMFile(certFile).map { .certificate($0) },
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem)))
                server = try .tls(.http1(), tlsConfiguration: tls)
            } catch {
                throw ConfigError(source: "[json_rpc] cert_file", message: "cannot load the TLS certificate or key: \(error)")
            }
        }
        return Application(
            responder: responder, server: server,
            configuration: .init(address: .hostname(config.jsonRPC.hostIP, port: config.jsonRPC.port), serverName: "ironic-conductor"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
    }
}
