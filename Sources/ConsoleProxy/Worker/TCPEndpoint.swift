import NIOCore
import NIOPosix
import NIOSSL

/// The raw TCP endpoint of one console: every connection is a viewer, bytes it sends are
/// input. Plain bytes both ways, so `socat - TCP:host:port`, `telnet` and nova's serial
/// console proxy work unchanged; optionally wrapped in TLS.
enum TCPEndpoint {
    /// Binds `host:port` and returns the listening channel.
    static func bind(
        host: String, port: Int, group: any EventLoopGroup, hub: ConsoleHub, replay: Bool, tls: NIOSSLContext?
    ) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 64)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    try channel.pipeline.syncOperations.addHandler(TCPViewerHandler(hub: hub, replay: replay))
                }
            }
            .bind(host: host, port: port).get()
    }
}

/// One TCP client of the hub.
final class TCPViewerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let hub: ConsoleHub
    private let replay: Bool
    private var id: Int?

    init(hub: ConsoleHub, replay: Bool) {
        self.hub = hub
        self.replay = replay
    }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        let viewer = ConsoleHub.Viewer(
            kind: "tcp",
            send: { bytes in
                guard channel.isActive, channel.isWritable else { return false }
                channel.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil)
                return true
            },
            close: { _ in channel.close(promise: nil) })
        let (id, backlog) = hub.attach(viewer, replay: replay)
        self.id = id
        if !backlog.isEmpty {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: backlog)), promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        guard let id, let bytes = buffer.readBytes(length: buffer.readableBytes) else { return }
        hub.input(bytes, from: id)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let id { hub.detach(id) }
        id = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
