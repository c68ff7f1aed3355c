import Foundation
import HummingbirdCore
import Hummingbird
import HummingbirdTLS
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOSSL

/// The WebSocket endpoint of one console: `GET /ws?token=...` upgrades when the token is the
/// console's; output goes out as binary messages, text or binary messages in are input.
enum WebEndpoint {
    /// Chunks queued for one slow WebSocket client before it is dropped.
    static let queuedChunks = 4096

    /// The application serving `/ws` and `/healthz` on `host:port`.
    static func application(
        host: String, port: Int, token: String, hub: ConsoleHub, group: any EventLoopGroup, tls: TLSConfiguration?,
        logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void
    ) throws -> some ApplicationProtocol {
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.get("/healthz") { _, _ in "ok\n" }
        router.ws(
            "/ws",
            shouldUpgrade: { request, _ in
                guard let given = request.uri.queryParameters.get("token"), TokenCheck.matches(given, token) else {
                    throw HTTPError(.unauthorized, message: "A valid console token is required.")
                }
                return .upgrade([:])
            },
            onUpgrade: { inbound, outbound, _ in
                try await serve(inbound: inbound, outbound: outbound, hub: hub)
            })
        let base = HTTPServerBuilder.http1WebSocketUpgrade(webSocketRouter: router)
        let server = try tls.map { try HTTPServerBuilder.tls(base, tlsConfiguration: $0) } ?? base
        return Application(
            router: router, server: server,
            configuration: .init(address: .hostname(host, port: port), serverName: "ironic-ipmiproxy"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            eventLoopGroupProvider: .shared(group), logger: logger)
    }

    private static func serve(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, hub: ConsoleHub) async throws {
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingOldest(queuedChunks))
        let viewer = ConsoleHub.Viewer(
            kind: "websocket",
            send: { bytes in
                if case .enqueued = continuation.yield(bytes) { return true }
                return false
            },
            close: { _ in continuation.finish() })
        let (id, backlog) = hub.attach(viewer, replay: true)
        defer {
            hub.detach(id)
            continuation.finish()
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                if !backlog.isEmpty { try await outbound.write(.binary(ByteBuffer(bytes: backlog))) }
                for await chunk in stream { try await outbound.write(.binary(ByteBuffer(bytes: chunk))) }
            }
            group.addTask {
                for try await message in inbound.messages(maxSize: 64 * 1024) {
                    switch message {
                    case .text(let text): hub.input(Array(text.utf8), from: id)
                    case .binary(var buffer): hub.input(buffer.readBytes(length: buffer.readableBytes) ?? [], from: id)
                    }
                }
            }
            _ = try await group.next()
            group.cancelAll()
        }
    }
}

/// Token comparison in constant time (per length).
enum TokenCheck {
    static func matches(_ given: String, _ expected: String) -> Bool {
        let a = Array(given.utf8)
        let b = Array(expected.utf8)
        guard a.count == b.count, !b.isEmpty else { return false }
        var difference: UInt8 = 0
        for index in 0..<a.count { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
