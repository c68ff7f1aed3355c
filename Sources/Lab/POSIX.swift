import ChildProcesses
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Small wrappers over the system calls the lab needs: loopback sockets, spawning and
/// signalling its own processes, and `/proc` checks. Everything here blocks; callers run it on
/// their own threads (see `onOwnThread`).
enum POSIX {
    #if canImport(Darwin)
        static let streamType = SOCK_STREAM
        static let datagramType = SOCK_DGRAM
        static let sendFlags: Int32 = 0
    #else
        static let streamType = Int32(SOCK_STREAM.rawValue)
        static let datagramType = Int32(SOCK_DGRAM.rawValue)
        static let sendFlags = Int32(MSG_NOSIGNAL)
    #endif

    static func loopbackAddress(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        #if canImport(Darwin)
            address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
        #endif
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
        return address
    }

    /// A close-on-exec, non-blocking socket.
    static func socket(type: Int32) throws(LabError) -> Int32 {
        #if canImport(Darwin)
            let fd = Darwin.socket(AF_INET, type, 0)
            guard fd >= 0 else { throw .system(call: "socket", errno: errno) }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #else
            let fd = Glibc.socket(AF_INET, type | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw .system(call: "socket", errno: errno) }
        #endif
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        return fd
    }

    static func bind(_ fd: Int32, port: Int) -> Int32 {
        var address = loopbackAddress(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Foundation.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    static func localPort(_ fd: Int32) -> Int? {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return rc == 0 ? Int(UInt16(bigEndian: address.sin_port)) : nil
    }

    /// A listening TCP socket on 127.0.0.1 (`port` 0 picks a free one), and its port.
    static func listenTCP(port: Int) throws(LabError) -> (fd: Int32, port: Int) {
        let fd = try socket(type: streamType)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, port: port) == 0 else {
            let error = errno
            close(fd)
            throw error == EADDRINUSE ? .portInUse(port) : .system(call: "bind", errno: error)
        }
        guard listen(fd, 16) == 0, let bound = localPort(fd) else {
            let error = errno
            close(fd)
            throw .system(call: "listen", errno: error)
        }
        return (fd, bound)
    }

    /// Whether nothing is bound to 127.0.0.1:`port` for this protocol right now.
    static func isFree(port: Int, type: Int32) -> Bool {
        guard let fd = try? socket(type: type) else { return false }
        defer { close(fd) }
        if type == streamType {
            // Like the listener ipmi_sim will open: a port left in TIME_WAIT is fine.
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        return bind(fd, port: port) == 0
    }

    /// Connects a blocking-with-deadline TCP client to 127.0.0.1:`port`.
    static func connectTCP(port: Int, timeout: Duration) throws(LabError) -> Int32 {
        let fd = try socket(type: streamType)
        var address = loopbackAddress(port: port)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            guard errno == EINPROGRESS else {
                let error = errno
                close(fd)
                throw .system(call: "connect", errno: error)
            }
            guard waitFor(fd, events: Int16(POLLOUT), timeout: timeout) else {
                close(fd)
                throw .system(call: "connect", errno: ETIMEDOUT)
            }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            guard error == 0 else {
                close(fd)
                throw .system(call: "connect", errno: error)
            }
        }
        return fd
    }

    /// Polls one descriptor; true when it is ready before `timeout`.
    static func waitFor(_ fd: Int32, events: Int16, timeout: Duration) -> Bool {
        var entry = pollfd(fd: fd, events: events, revents: 0)
        let milliseconds = max(0, Int32(clamping: timeout.milliseconds))
        let rc = poll(&entry, 1, milliseconds)
        return rc > 0 && entry.revents != 0
    }

    /// Writes everything or fails (non-blocking socket, bounded by `deadline`).
    static func sendAll(_ fd: Int32, _ bytes: [UInt8], deadline: ContinuousClock.Instant) throws(LabError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, sendFlags) }
            if written > 0 {
                offset += written
                continue
            }
            if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                let left = deadline - .now
                guard left > .zero, waitFor(fd, events: Int16(POLLOUT), timeout: left) else {
                    throw .system(call: "send", errno: ETIMEDOUT)
                }
                continue
            }
            throw .system(call: "send", errno: written < 0 ? errno : EPIPE)
        }
    }

    // MARK: Processes

    /// Starts `executable` in its own process group with default signal handling, stdin from
    /// /dev/null and stdout+stderr appended to `logPath`; returns its PID (`ChildProcess`).
    ///
    /// Default signal handling matters: ignored signals survive exec, and a service that
    /// ignores SIGTERM (as swift-service-lifecycle does) would otherwise hand BMCs that
    /// `stop()` cannot terminate; its own process group keeps a terminal's Ctrl-C for the lab,
    /// which then stops the BMCs in order.
    static func spawn(executable: String, arguments: [String], logPath: String) throws(LabError) -> pid_t {
        do {
            return try ChildProcess.spawn(executable, arguments, output: .file(logPath)).pid
        } catch {
            throw .system(call: error.call, errno: error.errno)
        }
    }

    /// Reaps `pid` if it is a child of this process that has exited; true when it is gone.
    static func reapIfExited(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        let rc = waitpid(pid, &status, WNOHANG)
        // ECHILD: already reaped (by an earlier call), so gone for us. Never fall back to
        // kill(pid, 0) here: the PID may already belong to somebody else.
        return rc == pid || (rc < 0 && errno == ECHILD)
    }

    /// Whether `pid` exists and is not a zombie.
    static func isAlive(_ pid: pid_t) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) != 0 && errno == ESRCH { return false }
        #if os(Linux)
            // Orphans are reparented to PID 1, which in a container may never reap them.
            if let stat = readSmallFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") {
                let rest = stat[stat.index(after: close)...].drop(while: { $0 == " " })
                if rest.first == "Z" || rest.first == "X" { return false }
            }
        #endif
        return true
    }

    /// The command line of `pid` from /proc, or nil when unreadable (gone, a zombie, or no /proc).
    static func commandLine(of pid: pid_t) -> [String]? {
        guard pid > 0, let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else {
            return nil
        }
        return data.split(separator: 0, omittingEmptySubsequences: false).dropLast(data.last == 0 ? 1 : 0)
            .map { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether `pid` is an ipmi_sim started with this `lan.conf` (guards against reused PIDs).
    static func isIPMISim(_ pid: pid_t, configPath: String) -> Bool {
        guard isAlive(pid), let arguments = commandLine(of: pid), let first = arguments.first else { return false }
        return (first as NSString).lastPathComponent == "ipmi_sim" && arguments.contains(configPath)
    }

    /// Stops a child of this process: SIGCONT (it may be frozen), SIGTERM, then SIGKILL after
    /// `grace`; reaps it. Bounded by about `grace` + 2 s.
    static func terminateChild(_ pid: pid_t, grace: Duration = .seconds(2)) {
        guard pid > 0 else { return }
        if reapIfExited(pid) { return }
        kill(pid, SIGCONT)
        kill(pid, SIGTERM)
        if waitUntil(deadline: .now + grace, { reapIfExited(pid) }) { return }
        kill(pid, SIGKILL)
        _ = waitUntil(deadline: .now + .seconds(2), { reapIfExited(pid) })
    }

    /// Stops a process this one did not start (a lab of another process), only while `stillOurs`
    /// holds (checked before every signal); true when it is gone.
    static func terminateForeign(_ pid: pid_t, grace: Duration = .seconds(3), stillOurs: () -> Bool) -> Bool {
        guard stillOurs() else { return !isAlive(pid) }
        kill(pid, SIGCONT)
        kill(pid, SIGTERM)
        if waitUntil(deadline: .now + grace, { !isAlive(pid) }) { return true }
        guard stillOurs() else { return !isAlive(pid) }
        kill(pid, SIGKILL)
        return waitUntil(deadline: .now + .seconds(2), { !isAlive(pid) })
    }

    /// Polls `condition` every 20 ms until it holds or `deadline` passes.
    @discardableResult
    static func waitUntil(deadline: ContinuousClock.Instant, _ condition: () -> Bool) -> Bool {
        while true {
            if condition() { return true }
            if ContinuousClock.now >= deadline { return false }
            usleep(20_000)
        }
    }

    // MARK: Files

    /// `name` in PATH or the usual system directories, or nil.
    static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin", "/usr/sbin"]
        return directories.filter { !$0.isEmpty }.map { "\($0)/\(name)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The first 4 KiB of a small file as text, or nil.
    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }

    /// The last `limit` bytes of a file as text (for error messages).
    static func tail(of path: String, limit: Int = 600) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        return String(decoding: data.suffix(limit), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

/// Runs blocking work on a thread of its own, never on the cooperative pool.
func onOwnThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.name = name
        thread.start()
    }
}
