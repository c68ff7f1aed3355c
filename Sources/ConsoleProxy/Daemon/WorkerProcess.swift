import ChildProcesses
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A worker child process with pipes on its stdin and stdout; stderr is shared with the daemon.
///
/// Started through `ChildProcess.spawn` (posix_spawn): signals the daemon ignores
/// (service-lifecycle ignores SIGTERM) do not stay ignored in the worker, the worker gets its
/// own process group (a terminal's Ctrl-C reaches the daemon, which stops workers in order), and
/// no other descriptor of the daemon (listening sockets, other workers' pipes) leaks into it:
/// when the daemon dies, the worker's stdin reaches end-of-file and it exits.
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
        let started: ChildProcess.Started
        do {
            started = try ChildProcess.spawn(
                executable, Array(command.dropFirst()), input: .pipe, output: .pipe, errorsToOutput: false)
        } catch {
            throw ProxyError.internal("Cannot start the worker \(executable): \(error)")
        }
        guard let stdinWrite = started.input, let stdoutRead = started.output else {
            throw ProxyError.internal("Cannot start the worker \(executable): no pipes")
        }
        return WorkerProcess(pid: started.pid, stdinWrite: stdinWrite, stdoutRead: stdoutRead)
    }

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
