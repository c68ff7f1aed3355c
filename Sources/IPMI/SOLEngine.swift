import CFreeIPMI
import Synchronization

/// libipmiconsole's engine: the threads that keep SOL sessions alive. One per process.
///
/// libipmiconsole keeps the engine in process-wide state, so create exactly one `SOLEngine`
/// and keep it for the life of the process (the console worker does); a second one throws.
public final class SOLEngine: Sendable {
    private let isTornDown = Mutex(false)

    /// Starts `threads` engine threads (1...32).
    ///
    /// - Throws: `SOLError.system` when the engine cannot start (or already runs).
    public init(threads: Int = 1) throws(SOLError) {
        let count = UInt32(min(max(threads, 1), Int(IPMICONSOLE_THREAD_COUNT_MAX)))
        guard ipmiconsole_engine_init(count, 0) == 0 else {
            throw SOLError(kind: .system, message: "libipmiconsole's engine could not start.")
        }
    }

    /// Stops the engine threads; with `cleanly`, deactivates open sessions on their BMCs first
    /// (blocks up to their session timeout). Idempotent.
    public func tearDown(cleanly: Bool) {
        let first = isTornDown.withLock { done in
            defer { done = true }
            return !done
        }
        if first { ipmiconsole_engine_teardown(cleanly ? 1 : 0) }
    }
}
