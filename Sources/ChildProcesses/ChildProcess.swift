import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A child process started with `posix_spawn`: the lab's BMCs, the console proxy's workers,
/// `ironic lab up`'s keeper, and the tools and daemons tests start.
///
/// Foundation's `Process.run()` on Linux (swift-corelibs-foundation up to Swift 6.3) can crash
/// the whole calling process: it copies whole `struct dirent` records while listing
/// `/proc/self/fd`, reading past glibc's buffer. A process that starts many children (a test
/// run) hits it every few runs, so nothing here uses `Process`.
///
/// The child gets default signal handling, an empty signal mask, no descriptor of this process
/// beyond its standard input, output and error, and (unless `newSession`) a process group of
/// its own, so a terminal's Ctrl-C reaches only the parent. It is ended only by its PID.
public final class ChildProcess: @unchecked Sendable {
    /// Where a child's standard input comes from.
    public enum Input: Sendable {
        /// `/dev/null`.
        case null
        /// A pipe: write to `input`.
        case pipe
    }

    /// Where a child's standard output and error go (both to the same place).
    public enum Output: Sendable {
        /// `/dev/null`.
        case null
        /// A pipe: read from `output`.
        case pipe
        /// Appended to this file (created when missing).
        case file(String)
    }

    /// The child's PID.
    public let pid: pid_t
    /// The write end of the child's standard input (`Input.pipe`), else nil.
    public let input: FileHandle?
    /// The read end of the child's standard output and error (`Output.pipe`), else nil.
    public let output: FileHandle?
    private let lock = NSLock()
    private var status: Int32?

    /// Starts `executable` (a path, or a name looked up in `PATH`) with `arguments`.
    ///
    /// - Parameters:
    ///   - environment: the child's environment; nil: this process's.
    ///   - errorsToOutput: standard error goes where standard output goes (else it is this
    ///     process's own).
    ///   - newSession: runs the child in a session of its own (`setsid`), so it outlives this
    ///     process's terminal.
    /// - Throws: `SpawnError` when the child cannot be started (no such executable, ...).
    public convenience init(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        input: Input = .null, output: Output = .pipe, errorsToOutput: Bool = true, newSession: Bool = false
    ) throws(SpawnError) {
        let started = try Self.spawn(
            executable, arguments, environment: environment, input: input, output: output, errorsToOutput: errorsToOutput,
            newSession: newSession)
        self.init(
            pid: started.pid, input: started.input.map { FileHandle(fileDescriptor: $0, closeOnDealloc: true) },
            output: started.output.map { FileHandle(fileDescriptor: $0, closeOnDealloc: true) })
    }

    private init(pid: pid_t, input: FileHandle?, output: FileHandle?) {
        self.pid = pid
        self.input = input
        self.output = output
    }

    /// What `spawn` started: the PID and this process's ends of the pipes it asked for.
    public struct Started: Sendable {
        public let pid: pid_t
        /// Write end of the child's standard input (`Input.pipe`); the caller closes it.
        public let input: Int32?
        /// Read end of the child's standard output (`Output.pipe`); the caller closes it.
        public let output: Int32?
    }

    /// Starts a child as `init` does, handing back raw descriptors for callers that manage
    /// them themselves (an event loop, say). The child is not reaped for them.
    public static func spawn(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        input: Input = .null, output: Output = .pipe, errorsToOutput: Bool = true, newSession: Bool = false
    ) throws(SpawnError) -> Started {
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        // Pipe ends are close-on-exec: the child keeps only the ends dup2'd onto 0, 1 and 2.
        var childEnds: [Int32] = []
        var parentInput: Int32?
        var parentOutput: Int32?
        defer { childEnds.forEach { close($0) } }
        switch input {
        case .null:
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        case .pipe:
            let (read, write) = try Self.pipe()
            childEnds.append(read)
            parentInput = write
            posix_spawn_file_actions_adddup2(&actions, read, 0)
        }
        switch output {
        case .null:
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        case .pipe:
            let (read, write) = try Self.pipe()
            childEnds.append(write)
            parentOutput = read
            posix_spawn_file_actions_adddup2(&actions, write, 1)
        case .file(let path):
            posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        }
        if errorsToOutput { posix_spawn_file_actions_adddup2(&actions, 1, 2) }
        // No other descriptor of this process (listening sockets, other children's pipes).
        if let closeFrom = addCloseFrom { _ = closeFrom(&actions, 3) }

        var defaults = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        var flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
        if newSession {
            flags |= Self.setsidFlag
        } else {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { envp?.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = argv.withUnsafeBufferPointer { argvPointer in
            Self.withEnvironment(envp) { envPointer in
                executable.contains("/")
                    ? posix_spawn(&pid, executable, &actions, &attributes, argvPointer.baseAddress!, envPointer)
                    : posix_spawnp(&pid, executable, &actions, &attributes, argvPointer.baseAddress!, envPointer)
            }
        }
        guard rc == 0 else {
            [parentInput, parentOutput].compactMap { $0 }.forEach { close($0) }
            throw SpawnError(call: "posix_spawn \(executable)", errno: rc)
        }
        return Started(pid: pid, input: parentInput, output: parentOutput)
    }

    /// Whether the child still runs (it is reaped once it has ended).
    public var isRunning: Bool { exitStatus(wait: false) == nil }

    /// Waits for the child to end; returns its exit status (128 + signal when a signal ended it).
    @discardableResult
    public func waitUntilExit() -> Int32 { exitStatus(wait: true) ?? -1 }

    /// Sends `signal` to the child, unless it has already been reaped.
    public func signal(_ signal: Int32) {
        lock.withLock { if status == nil { _ = kill(pid, signal) } }
    }

    /// SIGTERM, then SIGKILL if the child is still there after `grace`; waits for it.
    @discardableResult
    public func terminate(grace: Duration = .seconds(5)) -> Int32 {
        signal(SIGTERM)
        let deadline = ContinuousClock.now + grace
        while isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        if isRunning { signal(SIGKILL) }
        return waitUntilExit()
    }

    /// Runs `executable` to completion (killed after `timeout`), returning its exit status and
    /// everything it wrote to standard output and error.
    public static func run(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(30))
        throws(SpawnError) -> (status: Int32, output: String)
    {
        let child = try ChildProcess(executable, arguments)
        let timer = DispatchWorkItem { child.signal(SIGKILL) }
        let milliseconds = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(milliseconds)), execute: timer)
        let data = child.output?.readDataToEndOfFile() ?? Data()
        let status = child.waitUntilExit()
        timer.cancel()
        return (status, String(decoding: data, as: UTF8.self))
    }

    /// `run` for async callers: the blocking read and wait happen on a thread of their own, so
    /// a long-running tool never holds one of the few threads of the cooperative pool (with
    /// two CPUs there are two, and every task of the process would wait behind it).
    public static func run(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(30)) async throws
        -> (status: Int32, output: String)
    {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(status: Int32, output: String), any Error>) in
            let thread = Thread {
                continuation.resume(with: Result { () throws(SpawnError) in try run(executable, arguments, timeout: timeout) })
            }
            thread.name = "child-process-run"
            thread.start()
        }
    }

    private func exitStatus(wait: Bool) -> Int32? {
        lock.withLock {
            if let status { return status }
            var raw: Int32 = 0
            var result: pid_t
            repeat { result = waitpid(pid, &raw, wait ? 0 : WNOHANG) } while result == -1 && errno == EINTR
            guard result == pid else { return nil }
            let signal = raw & 0x7f
            status = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
            return status
        }
    }

    private static func pipe() throws(SpawnError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard pipe2(&fds, O_CLOEXEC) == 0 else { throw SpawnError(call: "pipe2", errno: errno) }
        return (fds[0], fds[1])
    }

    /// glibc's `pipe2` (the Glibc module does not export it): both ends close-on-exec from the
    /// start, so no child another thread spawns meanwhile inherits them.
    private static let pipe2: @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32 = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "pipe2") else { fatalError("glibc without pipe2") }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32).self)
    }()

    private static func withEnvironment<R>(
        _ envp: [UnsafeMutablePointer<CChar>?]?, _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R
    ) -> R {
        guard let envp else { return body(environ) }
        return envp.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// glibc's `POSIX_SPAWN_SETSID` (2.26+).
    private static let setsidFlag: Int32 = 0x80

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), looked up at run time: the
    /// Glibc module does not export GNU extensions.
    static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()
}

/// A child process that could not be started.
public struct SpawnError: Error, CustomStringConvertible, Sendable {
    /// The call that failed (`posix_spawn /usr/bin/x`, `pipe2`).
    public let call: String
    public let errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String { "\(call) failed: \(String(cString: strerror(errno)))" }
}
