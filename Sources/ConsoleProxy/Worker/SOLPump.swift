import Dispatch
import Foundation
import IPMI
import Synchronization

/// Moves bytes between one SOL session and the hub on two threads of its own (libipmiconsole's
/// descriptor blocks): a reader that opens the session and then reads until it ends, and a
/// writer that sends queued input.
///
/// Threading contract: `start`, `write` and `stop` may be called from any thread; the
/// callbacks run on the reader thread.
final class SOLPump: Sendable {
    private struct State {
        var session: SOLSession?
        var pending: [[UInt8]] = []
        var pendingBytes = 0
        var stopping = false
    }

    /// Most typed bytes waiting for the BMC; beyond this, input is dropped.
    static let maximumPendingInput = 64 * 1024

    private let settings: SOLSettings
    private let engine: SOLEngine
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)

    init(settings: SOLSettings, engine: SOLEngine) {
        self.settings = settings
        self.engine = engine
    }

    /// Opens SOL and pumps output to `output` until the session ends or `stop()`.
    ///
    /// - Parameters:
    ///   - established: called once SOL is up.
    ///   - output: serial output.
    ///   - ended: called once, with the reason (nil after `stop()`).
    func start(
        established: @escaping @Sendable () -> Void, output: @escaping @Sendable ([UInt8]) -> Void,
        ended: @escaping @Sendable (SOLError?) -> Void
    ) {
        let reader = Thread { [self] in
            Thread.current.name = "sol-reader"
            ended(readLoop(established: established, output: output))
        }
        reader.start()
        let writer = Thread { [self] in
            Thread.current.name = "sol-writer"
            writeLoop()
        }
        writer.start()
    }

    /// Queues input for the BMC (dropped before SOL is up or when too much is pending).
    func write(_ bytes: [UInt8]) {
        let queued = state.withLock { state in
            guard state.session != nil, !state.stopping,
                state.pendingBytes + bytes.count <= Self.maximumPendingInput
            else { return false }
            state.pending.append(bytes)
            state.pendingBytes += bytes.count
            return true
        }
        if queued { wake.signal() }
    }

    /// Closes the session; both threads end. Idempotent.
    func stop() {
        let session = state.withLock { state in
            state.stopping = true
            return state.session
        }
        session?.close()
        wake.signal()
    }

    private var isStopping: Bool { state.withLock { $0.stopping } }

    private func readLoop(established: @Sendable () -> Void, output: @Sendable ([UInt8]) -> Void) -> SOLError? {
        let session: SOLSession
        do {
            session = try SOLSession.open(settings, engine: engine)
        } catch {
            return isStopping ? nil : error
        }
        let keep = state.withLock { state in
            guard !state.stopping else { return false }
            state.session = session
            return true
        }
        guard keep else {
            session.close()
            return nil
        }
        established()
        // Bounded by the session: it ends on BMC failure (keepalive timeout) or stop().
        while true {
            do {
                switch try session.read(timeout: .seconds(1)) {
                case .data(let bytes): output(bytes)
                case .idle: if isStopping { return nil }
                }
            } catch {
                return isStopping ? nil : error
            }
        }
    }

    private func writeLoop() {
        while true {
            wake.wait()
            let (session, batch, stopping): (SOLSession?, [[UInt8]], Bool) = state.withLock { state in
                defer {
                    state.pending = []
                    state.pendingBytes = 0
                }
                return (state.session, state.pending, state.stopping)
            }
            if stopping { return }
            guard let session else { continue }
            for bytes in batch {
                do { try session.write(bytes) } catch { break }
            }
        }
    }
}
