import Synchronization

/// Fans one SOL session out to every attached client and lets one of them type.
///
/// Output from the BMC goes to the console log and to every viewer. Input is accepted from one
/// client at a time, the writer: the first client that types takes the seat and keeps it until
/// it detaches or stays silent for `writerIdleTimeout`; input from others is dropped (and they
/// are told once). A viewer that cannot keep up (its `send` returns false) is detached, so one
/// slow client never stalls the others or the BMC.
///
/// Threading contract: every method may be called from any thread; `send` and `close`
/// closures are called outside the lock and must not block.
public final class ConsoleHub: Sendable {
    /// How a client is reached.
    public struct Viewer: Sendable {
        /// `tcp` or `websocket`.
        public var kind: String
        /// Queues bytes for the client without blocking; false when it cannot keep up.
        public var send: @Sendable ([UInt8]) -> Bool
        /// Closes the client with a reason.
        public var close: @Sendable (String) -> Void

        /// Creates a viewer.
        public init(kind: String, send: @escaping @Sendable ([UInt8]) -> Bool, close: @escaping @Sendable (String) -> Void) {
            self.kind = kind
            self.send = send
            self.close = close
        }
    }

    /// Counters for the supervisor.
    public struct Stats: Sendable, Hashable {
        /// Bytes received from the BMC.
        public var bytesIn = 0
        /// Bytes sent to the BMC.
        public var bytesOut = 0
        /// Attached clients.
        public var clients = 0
    }

    private struct State {
        var viewers: [Int: Viewer] = [:]
        var toldReadOnly: Set<Int> = []
        var nextID = 1
        var writer: Int?
        var writerLastInput: ContinuousClock.Instant = .now
        var stats = Stats()
        var log: ConsoleLog?
    }

    private let state: Mutex<State>
    private let writerIdleTimeout: Duration
    private let sink: @Sendable ([UInt8]) -> Void

    /// Creates a hub; `logSize` 0 keeps no log; `sink` carries accepted input to the BMC.
    public init(logSize: Int, writerIdleTimeout: Duration, sink: @escaping @Sendable ([UInt8]) -> Void) {
        var initial = State()
        if logSize > 0 { initial.log = ConsoleLog(capacity: logSize) }
        state = Mutex(initial)
        self.writerIdleTimeout = writerIdleTimeout
        self.sink = sink
    }

    /// Attaches a client; returns its id and, with `replay`, the log to send it first.
    public func attach(_ viewer: Viewer, replay: Bool) -> (id: Int, replay: [UInt8]) {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.viewers[id] = viewer
            state.stats.clients = state.viewers.count
            return (id, replay ? (state.log?.contents ?? []) : [])
        }
    }

    /// Detaches a client (idempotent); frees the writer seat if it held it.
    public func detach(_ id: Int) {
        state.withLock { state in
            state.viewers[id] = nil
            state.toldReadOnly.remove(id)
            if state.writer == id { state.writer = nil }
            state.stats.clients = state.viewers.count
        }
    }

    /// Serial output from the BMC: logged and sent to every viewer.
    public func output(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        let viewers = state.withLock { state in
            state.stats.bytesIn += bytes.count
            state.log?.append(bytes)
            return state.viewers
        }
        var slow: [(Int, Viewer)] = []
        for (id, viewer) in viewers where !viewer.send(bytes) {
            slow.append((id, viewer))
        }
        for (id, viewer) in slow {
            detach(id)
            viewer.close("client too slow: output backed up")
        }
    }

    /// Input from client `id`: sent to the BMC when `id` holds (or can take) the writer seat.
    ///
    /// - Returns: whether the input was accepted.
    @discardableResult
    public func input(_ bytes: [UInt8], from id: Int, now: ContinuousClock.Instant = .now) -> Bool {
        guard !bytes.isEmpty else { return true }
        let (accepted, notify): (Bool, Viewer?) = state.withLock { state in
            guard state.viewers[id] != nil else { return (false, nil) }
            if let writer = state.writer, writer != id, now - state.writerLastInput < writerIdleTimeout {
                guard !state.toldReadOnly.contains(id) else { return (false, nil) }
                state.toldReadOnly.insert(id)
                return (false, state.viewers[id])
            }
            state.writer = id
            state.writerLastInput = now
            state.stats.bytesOut += bytes.count
            return (true, nil)
        }
        if accepted { sink(bytes) }
        if let notify {
            _ = notify.send(Array("\r\n[ironic-ipmiproxy: another client is typing; this one is read-only for now]\r\n".utf8))
        }
        return accepted
    }

    /// The console log (empty when logging is off).
    public var log: [UInt8] { state.withLock { $0.log?.contents ?? [] } }

    /// Whether a log is kept.
    public var keepsLog: Bool { state.withLock { $0.log != nil } }

    /// Current counters.
    public var stats: Stats { state.withLock { $0.stats } }

    /// The client holding the writer seat, if any.
    public var writer: Int? { state.withLock { $0.writer } }

    /// Closes every client with `reason`.
    public func closeAll(_ reason: String) {
        let viewers = state.withLock { state in
            defer {
                state.viewers = [:]
                state.writer = nil
                state.stats.clients = 0
            }
            return state.viewers
        }
        for viewer in viewers.values { viewer.close(reason) }
    }
}
