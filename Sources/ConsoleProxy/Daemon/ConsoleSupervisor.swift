import ConsoleProxyAPI
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Starts, watches and stops one worker process per console.
///
/// A worker that ends (SOL dropped, BMC died, process killed) is restarted after a backoff
/// that doubles from `restart_backoff` up to `max_restart_backoff`. After `max_restarts`
/// failures in a row (a worker that stayed up `stable_after` resets the count), or at once for
/// settings that cannot work (bad credentials, unknown workaround), the console goes to
/// `error` with `last_error` and is left alone until deleted: a crash-looping BMC never hangs
/// the proxy nor hammers the BMC.
public final class ConsoleSupervisor: Sendable {
    private let config: ProxyConfig
    private let workerCommand: [String]
    private let logger: Logger
    private let group: any EventLoopGroup
    private let ports: PortAllocator
    private let entries = Mutex<[String: ConsoleEntry]>([:])
    private let tasks = Mutex<[String: Task<Void, Never>]>([:])
    private let shuttingDown = Mutex(false)
    /// Filled once the REST API listens (endpoint URLs name its port).
    let apiPort = Mutex(0)

    /// Creates a supervisor; `workerCommand` starts one worker (e.g. `[ironic-ipmiproxy, worker]`).
    public init(config: ProxyConfig, workerCommand: [String], group: any EventLoopGroup, logger: Logger) {
        self.config = config
        self.workerCommand = workerCommand
        self.logger = logger
        self.group = group
        self.ports = PortAllocator(range: config.portRange, host: config.endpointHost)
    }

    // MARK: REST operations

    /// Starts a console.
    ///
    /// - Throws: `ProxyError` 400 for bad input, 409 when the node already has a console
    ///   here or the asked-for port is taken, 503 when the proxy is full or stopping.
    public func create(_ request: ConsoleRequest) throws(ProxyError) -> ConsoleRecord {
        try ConsoleRequestValidator.validate(request, config: config)
        guard !shuttingDown.withLock({ $0 }) else { throw .unavailable("The proxy is stopping.") }
        let existing = entries.withLock { $0.values.first { $0.nodeUUID == request.nodeUUID } }
        if let existing {
            throw .conflict("Node \(request.nodeUUID) already has console \(existing.id) on this proxy.")
        }
        guard entries.withLock({ $0.count }) < config.maxConsoles else {
            throw .unavailable("The proxy already serves max_consoles = \(config.maxConsoles) consoles.")
        }
        let tcpPort = try ports.allocate(preferred: request.options.tcpPort)
        let webPort: Int
        do { webPort = try ports.allocate() } catch {
            ports.release([tcpPort])
            throw error
        }
        let logSize = request.options.log == false ? 0 : (request.options.logSize ?? config.logSize)
        let entry = ConsoleEntry(
            id: UUID().uuidString.lowercased(), request: request, token: Self.makeToken(), logSize: logSize,
            tcpPort: tcpPort, webPort: webPort, tcpPinned: request.options.tcpPort != nil)
        let added = entries.withLock { entries in
            guard !entries.values.contains(where: { $0.nodeUUID == request.nodeUUID }) else { return false }
            entries[entry.id] = entry
            return true
        }
        guard added else {
            ports.release([tcpPort, webPort])
            throw .conflict("Node \(request.nodeUUID) already has a console on this proxy.")
        }
        let task = Task { await self.supervise(entry) }
        tasks.withLock { $0[entry.id] = task }
        logger.info("console created", metadata: ["console": "\(entry.id)", "node": "\(request.nodeUUID)", "tcp_port": "\(tcpPort)"])
        return entry.record(config: config, apiPort: apiPort.withLock { $0 })
    }

    /// Every console, oldest first, optionally of one node.
    public func list(nodeUUID: String? = nil) -> [ConsoleRecord] {
        let port = apiPort.withLock { $0 }
        return entries.withLock { Array($0.values) }
            .filter { nodeUUID == nil || $0.nodeUUID == nodeUUID }
            .sorted { $0.createdAt < $1.createdAt }
            .map { $0.record(config: config, apiPort: port) }
    }

    /// One console.
    public func get(_ id: String) throws(ProxyError) -> ConsoleRecord {
        guard let entry = entry(id) else { throw .notFound(id) }
        return entry.record(config: config, apiPort: apiPort.withLock { $0 })
    }

    /// The console's token and WebSocket port, for the console page.
    func pageInfo(_ id: String) -> (token: String, webPort: Int, nodeUUID: String)? {
        guard let entry = entry(id) else { return nil }
        return (entry.token, entry.status.withLock { $0.webPort }, entry.nodeUUID)
    }

    /// Stops a console and its worker; returns once the worker is gone.
    public func delete(_ id: String) async throws(ProxyError) {
        guard let entry = entry(id) else { throw .notFound(id) }
        await stop(entry)
    }

    /// The console log: asked of the running worker, else the last one a worker sent.
    ///
    /// - Throws: 404 for an unknown console, 409 when logging is off for it.
    public func log(_ id: String) async throws(ProxyError) -> [UInt8] {
        guard let entry = entry(id) else { throw .notFound(id) }
        guard entry.logEnabled else { throw .conflict("Console logging is disabled for console \(id).") }
        if let fresh = try? await askLog(entry) { return fresh }
        return entry.status.withLock { $0.lastLog }
    }

    /// Stops every console (the daemon is stopping); returns once every worker is gone.
    public func stopAll() async {
        shuttingDown.withLock { $0 = true }
        let all = entries.withLock { Array($0.values) }
        await withTaskGroup(of: Void.self) { group in
            for entry in all { group.addTask { await self.stop(entry) } }
        }
    }

    /// Counts of consoles by state, for metrics and `/healthz`.
    func snapshot() -> [ConsoleEntry] { entries.withLock { Array($0.values) } }

    // MARK: Supervision

    private func entry(_ id: String) -> ConsoleEntry? { entries.withLock { $0[id.lowercased()] } }

    private func stop(_ entry: ConsoleEntry) async {
        let writer = entry.status.withLock { status in
            status.stopping = true
            status.state = .stopping
            return status.writer
        }
        if let writer { try? await writer.write(Self.line(WorkerCommand(command: .stop))) }
        let task = tasks.withLock { $0[entry.id] }
        task?.cancel()
        await task?.value
        entries.withLock { $0[entry.id] = nil }
        tasks.withLock { $0[entry.id] = nil }
        let used = entry.status.withLock { [$0.tcpPort, $0.webPort] }
        ports.release(used)
        logger.info("console stopped", metadata: ["console": "\(entry.id)", "node": "\(entry.nodeUUID)"])
    }

    private func isStopping(_ entry: ConsoleEntry) -> Bool { entry.status.withLock { $0.stopping } }

    /// Runs workers for `entry` until it is stopped or gives up.
    private func supervise(_ entry: ConsoleEntry) async {
        var failuresInARow = 0
        // Bounded: every pass either ends the loop or counts a failure toward max_restarts
        // (a stable run resets the count, and is itself bounded by the worker's life).
        while !isStopping(entry) {
            let outcome = await runWorker(entry)
            if isStopping(entry) { break }
            if outcome.stable { failuresInARow = 0 }
            failuresInARow += 1
            let message = outcome.message
            if outcome.fatal {
                enterError(entry, "\(message) (not retried: the settings cannot work)")
                return
            }
            if outcome.portInUse && !entry.tcpPinned { reallocatePorts(entry) }
            if failuresInARow > config.maxRestarts {
                enterError(entry, "Gave up after \(failuresInARow) failed attempts in a row; last: \(message)")
                return
            }
            let backoff = backoff(after: failuresInARow)
            entry.status.withLock { status in
                status.state = .restarting
                status.lastError = message
                status.restarts += 1
                status.pid = nil
            }
            logger.warning(
                "console worker ended; restarting", metadata: ["console": "\(entry.id)", "reason": "\(message)", "backoff": "\(backoff)"])
            try? await Task.sleep(for: backoff)
        }
    }

    private func enterError(_ entry: ConsoleEntry, _ message: String) {
        entry.status.withLock { status in
            status.state = .error
            status.lastError = message
            status.pid = nil
        }
        logger.error("console in error state", metadata: ["console": "\(entry.id)", "node": "\(entry.nodeUUID)", "reason": "\(message)"])
    }

    func backoff(after failures: Int) -> Duration {
        var pause = config.restartBackoff
        for _ in 1..<max(1, failures) where pause < config.maxRestartBackoff { pause = pause * 2 }
        return min(pause, config.maxRestartBackoff)
    }

    private func reallocatePorts(_ entry: ConsoleEntry) {
        guard let tcp = try? ports.allocate(), let web = try? ports.allocate() else { return }
        let old = entry.status.withLock { status in
            defer {
                status.tcpPort = tcp
                status.webPort = web
            }
            return [status.tcpPort, status.webPort]
        }
        ports.release(old)
    }

    struct Outcome {
        var message: String
        var fatal = false
        var portInUse = false
        var stable = false
    }

    /// One worker's life: spawn, feed the spec, follow its events, reap it.
    private func runWorker(_ entry: ConsoleEntry) async -> Outcome {
        let spec = makeSpec(entry)
        let process: WorkerProcess
        do { process = try WorkerProcess.spawn(workerCommand) } catch {
            return Outcome(message: "\(error)")
        }
        entry.status.withLock { status in
            status.pid = process.pid
            if status.state != .restarting { status.state = .starting }
            status.bytesIn = 0
            status.bytesOut = 0
            status.clients = 0
            status.startedAt = nil
        }
        var outcome = Outcome(message: "the worker ended")
        var establishedAt: ContinuousClock.Instant?
        do {
            let channel = try await NIOPipeBootstrap(group: group)
                .takingOwnershipOfDescriptors(input: process.stdoutRead, output: process.stdinWrite) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(Self.line(spec))
                entry.status.withLock { $0.writer = outbound }
                defer { entry.status.withLock { $0.writer = nil } }
                if isStopping(entry) { try? await outbound.write(Self.line(WorkerCommand(command: .stop))) }
                var pending = [UInt8]()
                for try await var chunk in inbound {
                    pending += chunk.readBytes(length: chunk.readableBytes) ?? []
                    // Bounded by the data received: each pass consumes one line.
                    while let newline = pending.firstIndex(of: 0x0A) {
                        let line = Array(pending[..<newline])
                        pending.removeFirst(newline + 1)
                        guard let event = try? JSONDecoder().decode(WorkerEvent.self, from: Data(line)) else { continue }
                        handle(event, entry: entry, outcome: &outcome, establishedAt: &establishedAt)
                    }
                    if pending.count > 64 * 1024 * 1024 { break }  // A worker that never ends its line.
                }
            }
        } catch {
            if outcome.message == "the worker ended" { outcome.message = "lost contact with the worker: \(error)" }
        }
        let exit = await process.wait(grace: config.workerStopTimeout, terminate: isStopping(entry))
        failPendingLogs(entry)
        if case .signal = exit, !isStopping(entry) {
            outcome.message = "the worker process ended on \(exit)"
        } else if outcome.message == "the worker ended" {
            outcome.message = "the worker ended (\(exit))"
        }
        if let establishedAt, ContinuousClock.now - establishedAt >= config.stableAfter { outcome.stable = true }
        entry.status.withLock { status in
            status.pid = nil
            status.clients = 0
        }
        return outcome
    }

    private func handle(_ event: WorkerEvent, entry: ConsoleEntry, outcome: inout Outcome, establishedAt: inout ContinuousClock.Instant?) {
        switch event.event {
        case .listening:
            break
        case .established:
            establishedAt = .now
            entry.status.withLock { status in
                status.state = .running
                status.startedAt = Date()
                status.establishments += 1
            }
        case .stats:
            entry.status.withLock { status in
                status.bytesIn = event.bytesIn ?? status.bytesIn
                status.bytesOut = event.bytesOut ?? status.bytesOut
                status.clients = event.clients ?? status.clients
            }
        case .log:
            let bytes = event.data.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) } ?? []
            let continuation = entry.status.withLock { status in
                status.lastLog = bytes
                return event.request.flatMap { status.pendingLogs.removeValue(forKey: $0) }
            }
            continuation?.resume(returning: bytes)
        case .failed:
            outcome.message = event.message ?? "the worker failed"
            outcome.fatal = event.failure == .fatal
            outcome.portInUse = event.failure == .portInUse
        }
    }

    private func askLog(_ entry: ConsoleEntry) async throws -> [UInt8] {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8], any Error>) in
            let (writer, request): (NIOAsyncChannelOutboundWriter<ByteBuffer>?, Int) = entry.status.withLock { status in
                guard let writer = status.writer, status.state == .running else { return (nil, 0) }
                let request = status.nextRequest
                status.nextRequest += 1
                status.pendingLogs[request] = continuation
                return (writer, request)
            }
            guard let writer else {
                continuation.resume(throwing: ProxyError.unavailable("No worker runs for console \(entry.id)."))
                return
            }
            Task {
                try? await writer.write(Self.line(WorkerCommand(command: .log, request: request)))
                try? await Task.sleep(for: .seconds(5))
                let stale = entry.status.withLock { $0.pendingLogs.removeValue(forKey: request) }
                stale?.resume(throwing: ProxyError.unavailable("The worker of console \(entry.id) did not answer."))
            }
        }
    }

    private func failPendingLogs(_ entry: ConsoleEntry) {
        let pending = entry.status.withLock { status in
            defer { status.pendingLogs = [:] }
            return Array(status.pendingLogs.values)
        }
        for continuation in pending { continuation.resume(throwing: ProxyError.unavailable("The worker ended.")) }
    }

    private func makeSpec(_ entry: ConsoleEntry) -> WorkerSpec {
        let bmc = entry.request.bmc
        let ports = entry.status.withLock { ($0.tcpPort, $0.webPort) }
        return WorkerSpec(
            consoleID: entry.id, nodeUUID: entry.nodeUUID, bmcHost: bmc.address, bmcPort: bmc.port ?? 623,
            username: bmc.username ?? "", password: bmc.password ?? "", privilege: (bmc.privilegeLevel ?? "ADMINISTRATOR").uppercased(),
            cipherSuite: bmc.cipherSuite ?? 3, workarounds: bmc.workarounds ?? [],
            sessionTimeoutMilliseconds: Int(config.solSessionTimeout.components.seconds * 1000 + config.solSessionTimeout.components.attoseconds / 1_000_000_000_000_000),
            keepaliveMilliseconds: Int(config.solKeepalive.components.seconds * 1000 + config.solKeepalive.components.attoseconds / 1_000_000_000_000_000),
            bindHost: config.endpointHost, tcpPort: ports.0, webPort: ports.1, token: entry.token, logSize: entry.logSize,
            tcpReplay: entry.request.options.tcpReplay ?? false,
            writerIdleSeconds: Double(config.writerIdleTimeout.components.seconds), tlsCertificateFile: config.certFile,
            tlsKeyFile: config.keyFile)
    }

    static func line<T: Encodable>(_ value: T) -> ByteBuffer {
        var data = (try? JSONEncoder().encode(value)) ?? Data()
        data.append(0x0A)
        return ByteBuffer(bytes: data)
    }

    static func makeToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<24).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}
