import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A worker child process with pipes on its stdin and stdout; stderr is shared with the daemon.
///
/// posix_spawn rather than `Foundation.Process`: signals the daemon ignores (service-lifecycle
/// ignores SIGTERM) must not stay ignored in the worker, the worker gets its own process group
/// (a terminal's Ctrl-C reaches the daemon, which stops workers in order), and no other
/// descriptor of the daemon (listening sockets, other workers' pipes) leaks into it: when the
/// daemon dies, the worker's stdin reaches end-of-file and it exits.
struct WorkerProcess: Sendable {
    /// The child's PID.
    let pid: pid_t
    /// Our end of the child's stdin.
    let stdinWrite: Int32
    /// Our end of the child's stdout.
    let stdoutRead: Int32

    /// Starts `command` (absolute path first).
    static func spawn(_ command: [String]) throws -> WorkerProcess {
        guard let executable = command.first else { throw ProxyError.internal("No worker command configured.") }
        var input: [Int32] = [0, 0]
        var output: [Int32] = [0, 0]
        guard pipe(&input) == 0 else { throw ProxyError.internal("pipe failed: \(String(cString: strerror(errno)))") }
        guard pipe(&output) == 0 else {
            close(input[0])
            close(input[1])
            throw ProxyError.internal("pipe failed: \(String(cString: strerror(errno)))")
        }
        for fd in [input[1], output[0]] { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        if let closeFrom = addCloseFrom { _ = closeFrom(&actions, 3) }
        var defaults = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = argv.withUnsafeBufferPointer { posix_spawn(&pid, executable, &actions, &attributes, $0.baseAddress!, environ) }
        close(input[0])
        close(output[1])
        guard rc == 0 else {
            close(input[1])
            close(output[0])
            throw ProxyError.internal("Cannot start the worker \(executable): \(String(cString: strerror(rc)))")
        }
        return WorkerProcess(pid: pid, stdinWrite: input[1], stdoutRead: output[0])
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), looked up at run time.
    static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// How a worker ended.
    enum Exit: Sendable, Hashable, CustomStringConvertible {
        case status(Int32)
        case signal(Int32)

        var description: String {
            switch self {
            case .status(let code): "exit status \(code)"
            case .signal(let signal): "signal \(signal)\(signal == SIGKILL ? " (killed)" : signal == SIGSEGV ? " (crashed)" : "")"
            }
        }
    }

    /// Reaps the child if it has exited.
    func reap() -> Exit? {
        var status: Int32 = 0
        let rc = waitpid(pid, &status, WNOHANG)
        if rc == pid {
            let low = status & 0x7f
            return low == 0 ? .status((status >> 8) & 0xff) : .signal(low)
        }
        if rc < 0 && errno == ECHILD { return .status(-1) }
        return nil
    }

    /// Waits for the child to exit: up to `grace` by itself (after SIGTERM when `terminate`),
    /// then SIGKILL. Bounded: at most `grace` + 5 s.
    func wait(grace: Duration, terminate: Bool) async -> Exit {
        if terminate { kill(pid, SIGTERM) }
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            if let exit = reap() { return exit }
            try? await Task.sleep(for: .milliseconds(20))
        }
        kill(pid, SIGKILL)
        let killDeadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < killDeadline {
            if let exit = reap() { return exit }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return .signal(SIGKILL)
    }
}
