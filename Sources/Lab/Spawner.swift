import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Starts a lab's ipmi_sim processes from one thread that lives as long as the lab, so that
/// they die with the process that started them.
///
/// On Linux each BMC is started through `setpriv --pdeathsig SIGTERM` (util-linux), which
/// sets `PR_SET_PDEATHSIG` and then execs ipmi_sim (same PID, same command line). The kernel
/// sends that signal when the *thread* that created the child ends, hence this long-lived
/// thread: a test process that exits without `Lab.stop()` (or an `ironic lab up` killed with
/// SIGKILL) leaves no BMC behind. (A thread that ends before setpriv has set the signal goes
/// unnoticed; the lab's thread lives far longer than that.)
public final class Spawner: @unchecked Sendable {
    // Jobs and the stop flag are guarded by `condition`; the thread runs the jobs.
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var stopping = false
    private let setpriv: String?

    /// Starts the spawner thread.
    public init() {
        #if os(Linux)
            setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].first { FileManager.default.isExecutableFile(atPath: $0) }
        #else
            setpriv = nil
        #endif
        let thread = Thread { [self] in loop() }
        thread.name = "lab-spawner"
        thread.start()
    }

    /// Whether children die with this process (setpriv is available).
    public var tiesChildrenToProcess: Bool { setpriv != nil }

    /// Starts `executable` (see `POSIX.spawn`) from the spawner thread; blocks until it has.
    public func spawn(executable: String, arguments: [String], logPath: String) throws(LabError) -> pid_t {
        let (program, argv) =
            setpriv.map { ($0, ["--pdeathsig", "SIGTERM", "--", executable] + arguments) } ?? (executable, arguments)
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<pid_t, LabError> = .failure(.system(call: "spawn (lab stopped)", errno: ECANCELED))
        let accepted = enqueue {
            do throws(LabError) {
                result = .success(try POSIX.spawn(executable: program, arguments: argv, logPath: logPath))
            } catch {
                result = .failure(error)
            }
            done.signal()
        }
        if accepted { done.wait() }
        return try result.get()
    }

    /// Lets the thread end (after the lab has ended its children: they get SIGTERM then).
    public func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func enqueue(_ job: @escaping () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty && stopping {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}
