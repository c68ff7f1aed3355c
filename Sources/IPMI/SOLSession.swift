import CFreeIPMI
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// One established serial-over-LAN session: bytes the server's serial port prints come out of
/// `read`, bytes written with `write` reach the serial port.
///
/// Threading contract: every method blocks its calling thread (`open` for up to the session
/// timeout). Call them from threads of your own, never from the cooperative pool or an event
/// loop; `read` and `write` may run on two different threads at once. `close` may be called
/// from any thread and makes a blocked `read` return.
///
/// ```swift
/// let engine = try SOLEngine()
/// let session = try SOLSession.open(settings, engine: engine)   // blocks
/// while case .data(let bytes) = try session.read(timeout: .seconds(1)) { ... }
/// ```
public final class SOLSession: Sendable {
    /// What one `read` returned.
    public enum ReadResult: Sendable, Hashable {
        /// Bytes from the serial port.
        case data([UInt8])
        /// Nothing arrived within the timeout.
        case idle
    }

    // The context pointer is only used under the lock or by libipmiconsole's own threads.
    private let state: Mutex<UnsafeState>
    private let fd: Int32
    /// The BMC this session talks to (`host:port`).
    public let target: String

    private final class UnsafeState: @unchecked Sendable {
        var context: ipmiconsole_ctx_t?
        var closed = false
        init(context: ipmiconsole_ctx_t?) { self.context = context }
    }

    private init(context: ipmiconsole_ctx_t, fd: Int32, target: String) {
        self.state = Mutex(UnsafeState(context: context))
        self.fd = fd
        self.target = target
    }

    deinit { close() }

    /// Opens a session and returns once SOL is established (blocks for up to the session timeout).
    ///
    /// - Throws: `SOLError` classified from libipmiconsole's error (`authentication`, `timeout`,
    ///   `solUnavailable`, ...), or `invalidRequest` for settings it would refuse.
    public static func open(_ settings: SOLSettings, engine: SOLEngine) throws(SOLError) -> SOLSession {
        try settings.validate()
        let flags = try SOLWorkarounds.flags(for: settings.workarounds)
        let username = strdup(settings.username)
        let password = strdup(settings.password)
        defer {
            free(username)
            if let password {
                memset(password, 0, strlen(password))
                free(password)
            }
        }
        var ipmi = ipmiconsole_ipmi_config(
            username: username, password: password, k_g: nil, k_g_len: 0,
            privilege_level: settings.privilege.consoleValue, cipher_suite_id: Int32(settings.cipherSuite),
            workaround_flags: flags)
        var protocolConfig = ipmiconsole_protocol_config(
            session_timeout_len: Int32(clamping: settings.sessionTimeout.solMilliseconds),
            retransmission_timeout_len: Int32(clamping: settings.retransmissionTimeout.solMilliseconds),
            retransmission_backoff_count: -1,
            keepalive_timeout_len: Int32(clamping: settings.keepaliveTimeout.solMilliseconds),
            // libipmiconsole refuses a keepalive retransmission longer than the keepalive itself.
            retransmission_keepalive_timeout_len: Int32(clamping: min(settings.keepaliveTimeout.solMilliseconds / 2, 5000)),
            acceptable_packet_errors_count: -1,
            maximum_retransmission_count: -1)
        // No libipmiconsole.conf defaults: every value comes from the node's settings.
        var engineConfig = ipmiconsole_engine_config(engine_flags: 0, behavior_flags: 0, debug_flags: 0)
        guard let context = ipmiconsole_ctx_create(settings.target, &ipmi, &protocolConfig, &engineConfig) else {
            let code = errno
            throw SOLError(
                kind: code == EINVAL ? .invalidRequest : .system,
                message: "libipmiconsole refused the session settings for \(settings.target): \(String(cString: strerror(code))).")
        }
        guard ipmiconsole_engine_submit_block(context) == 0 else {
            let errnum = ipmiconsole_ctx_errnum(context)
            let message = String(cString: ipmiconsole_ctx_errormsg(context))
            ipmiconsole_ctx_destroy(context)
            throw SOLError(
                kind: SOLError.kind(ofConsoleError: errnum),
                message: "Serial-over-LAN to \(settings.target) failed: \(message).")
        }
        let fd = ipmiconsole_ctx_fd(context)
        guard fd >= 0 else {
            let message = String(cString: ipmiconsole_ctx_errormsg(context))
            ipmiconsole_ctx_destroy(context)
            throw SOLError(kind: .system, message: "No descriptor for the SOL session to \(settings.target): \(message).")
        }
        return SOLSession(context: context, fd: fd, target: settings.target)
    }

    /// Waits up to `timeout` for serial output.
    ///
    /// - Throws: `SOLError` once the session has ended (BMC gone, session stolen, `close()`),
    ///   with libipmiconsole's reason when it gave one.
    public func read(maxBytes: Int = 4096, timeout: Duration) throws(SOLError) -> ReadResult {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pfd, 1, Int32(clamping: timeout.solMilliseconds))
        if ready == 0 { return .idle }
        if ready < 0 {
            if errno == EINTR { return .idle }
            throw ended("poll failed: \(String(cString: strerror(errno)))")
        }
        var buffer = [UInt8](repeating: 0, count: max(1, maxBytes))
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if count > 0 { return .data(Array(buffer[0..<count])) }
        if count < 0, errno == EINTR || errno == EAGAIN { return .idle }
        throw ended(count == 0 ? "the session ended" : String(cString: strerror(errno)))
    }

    /// Sends `bytes` to the serial port (blocks while the session's buffer is full).
    ///
    /// - Throws: `SOLError.sessionLost` once the session has ended.
    public func write(_ bytes: [UInt8]) throws(SOLError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw ended(String(cString: strerror(errno)))
            }
            offset += written
        }
    }

    /// Sends a serial break.
    public func sendBreak() throws(SOLError) {
        let failed: String? = state.withLock { state in
            guard let context = state.context, !state.closed else { return "the session is closed" }
            return ipmiconsole_ctx_generate_break(context) == 0 ? nil : String(cString: ipmiconsole_ctx_errormsg(context))
        }
        if let failed { throw SOLError(kind: .sessionLost, message: "Break not sent to \(target): \(failed).") }
    }

    /// Ends the session (libipmiconsole deactivates SOL on the BMC in the background). Idempotent.
    public func close() {
        let context: ipmiconsole_ctx_t? = state.withLock { state in
            guard !state.closed else { return nil }
            state.closed = true
            defer { state.context = nil }
            return state.context
        }
        guard let context else { return }
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
        ipmiconsole_ctx_destroy(context)
    }

    /// Whether `close()` was called.
    public var isClosed: Bool { state.withLock { $0.closed } }

    private func ended(_ detail: String) -> SOLError {
        let reason: (SOLError.Kind, String)? = state.withLock { state in
            guard let context = state.context, !state.closed else { return nil }
            guard ipmiconsole_ctx_status(context) == IPMICONSOLE_CTX_STATUS_ERROR
                || ipmiconsole_ctx_errnum(context) != IPMICONSOLE_ERR_SUCCESS
            else { return nil }
            let errnum = ipmiconsole_ctx_errnum(context)
            guard errnum != IPMICONSOLE_ERR_SUCCESS else { return nil }
            return (SOLError.kind(ofConsoleError: errnum), String(cString: ipmiconsole_ctx_errormsg(context)))
        }
        if let (kind, message) = reason {
            return SOLError(kind: kind == .invalidRequest ? .sessionLost : kind, message: "SOL session to \(target) ended: \(message).")
        }
        return SOLError(kind: .sessionLost, message: "SOL session to \(target) ended: \(detail).")
    }
}

extension Duration {
    var solMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
