import ConsoleProxyAPI
import Foundation
import NIOCore
import Synchronization

/// One console the proxy supervises: what was asked for, and what its worker reports.
///
/// Threading contract: immutable fields are set at creation; everything else lives behind one
/// lock, so the REST API, the supervise loop and metrics may read and write from any task.
final class ConsoleEntry: Sendable {
    struct Status: Sendable {
        var state: ConsoleState = .starting
        var pid: Int32?
        var startedAt: Date?
        var bytesIn = 0
        var bytesOut = 0
        var clients = 0
        var restarts = 0
        var lastError: String?
        var tcpPort: Int
        var webPort: Int
        var stopping = false
        var writer: NIOAsyncChannelOutboundWriter<ByteBuffer>?
        var nextRequest = 1
        var pendingLogs: [Int: CheckedContinuation<[UInt8], any Error>] = [:]
        /// The last log a worker sent, kept across restarts.
        var lastLog: [UInt8] = []
        /// Times SOL was established (for tests and metrics).
        var establishments = 0
    }

    let id: String
    let request: ConsoleRequest
    let createdAt: Date
    let token: String
    let logSize: Int
    let tcpPinned: Bool
    let status: Mutex<Status>

    init(id: String, request: ConsoleRequest, token: String, logSize: Int, tcpPort: Int, webPort: Int, tcpPinned: Bool) {
        self.id = id
        self.request = request
        self.createdAt = Date()
        self.token = token
        self.logSize = logSize
        self.tcpPinned = tcpPinned
        self.status = Mutex(Status(tcpPort: tcpPort, webPort: webPort))
    }

    var nodeUUID: String { request.nodeUUID }
    var logEnabled: Bool { logSize > 0 }

    /// The record the REST API returns.
    func record(config: ProxyConfig, apiPort: Int) -> ConsoleRecord {
        let snapshot = status.withLock { $0 }
        let host = config.advertisedHost
        let secure = config.certFile != nil
        let endpoints = ConsoleEndpoints(
            tcp: "tcp://\(host):\(snapshot.tcpPort)",
            websocket: "\(secure ? "wss" : "ws")://\(host):\(snapshot.webPort)/ws?token=\(token)",
            page: "http://\(config.publicHost ?? config.hostIP):\(apiPort)/consoles/\(id)?token=\(token)")
        return ConsoleRecord(
            id: id, nodeUUID: nodeUUID, state: snapshot.state, pid: snapshot.pid.map(Int.init),
            createdAt: ISO8601DateFormatter().string(from: createdAt),
            startedAt: snapshot.startedAt.map { ISO8601DateFormatter().string(from: $0) },
            bytesIn: snapshot.bytesIn, bytesOut: snapshot.bytesOut, clients: snapshot.clients, restarts: snapshot.restarts,
            lastError: snapshot.lastError, logEnabled: logEnabled, logSize: logSize, endpoints: endpoints,
            bmc: "\(request.bmc.address):\(request.bmc.port ?? 623)")
    }
}
