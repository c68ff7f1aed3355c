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
/// process's conductor through `JSONRPCDispatcher`. HTTP basic authentication with
/// `[json_rpc] username` / `password` unless `auth_strategy = noauth`.
struct JSONRPCResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let dispatcher: JSONRPCDispatcher
    /// The exact `Authorization` value accepted; nil: no authentication.
    let expectedAuthorization: [UInt8]?
    let maxBodySize: Int

    init(dispatcher: JSONRPCDispatcher, config: JSONRPCConfig) throws(ConfigError) {
        self.dispatcher = dispatcher
        self.maxBodySize = 64 << 20
        switch config.authStrategy {
        case .noauth:
            expectedAuthorization = nil
        case .httpBasic:
            guard let username = config.username, let password = config.password, !username.isEmpty, !password.isEmpty else {
                throw ConfigError(
                    source: "[json_rpc] auth_strategy",
                    message: "http_basic needs [json_rpc] username and password (or auth_strategy = noauth)")
            }
            expectedAuthorization = Array(("Basic " + Data("\(username):\(password)".utf8).base64EncodedString()).utf8)
        }
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        guard request.method == .post else {
            return Self.json(.methodNotAllowed, #"{"error":{"code":405,"message":"Only POST is supported"}}"#)
        }
        if let expectedAuthorization {
            let given = Array((request.headers[.authorization] ?? "").utf8)
            guard Self.constantTimeEqual(given, expectedAuthorization) else {
                var response = Self.json(.unauthorized, #"{"error":{"code":401,"message":"Authentication required"}}"#)
                response.headers[.wwwAuthenticate] = #"Basic realm="ironic-json-rpc""#
                return response
            }
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

    /// Compares without an early exit, so timing does not reveal how much of a guess matched.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
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
