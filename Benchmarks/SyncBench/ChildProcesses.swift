import Dispatch
import Foundation
import Lab
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// What the benchmark started and must end, whatever happens: the lab (its ipmi_sim
/// processes, by PID) and a running ipmipower. A SIGINT or SIGTERM ends both and exits.
///
/// Only PIDs recorded here are ever signalled.
final class ChildProcesses: Sendable {
    private struct State {
        var lab: Lab?
        var pids: Set<pid_t> = []
        var workDirectory: URL?
        var stopping = false
    }

    private let state = Mutex(State())
    private let sources = Mutex<[any DispatchSourceSignal]>([])

    /// Starts handling SIGINT and SIGTERM: stop everything, say where the files are, exit 130.
    func handleSignals() {
        let installed = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in
                print("\nsignal \(number): stopping the lab and ipmipower")
                let directory = stopAll()
                if let directory { print("kept \(directory.path)") }
                fflush(nil)
                exit(130)
            }
            source.resume()
            return source
        }
        sources.withLock { $0 = installed }
    }

    /// The lab to stop on a signal.
    func setLab(_ lab: Lab?) { state.withLock { $0.lab = lab } }

    /// The directory to name when a signal ends the run.
    func setWorkDirectory(_ url: URL?) { state.withLock { $0.workDirectory = url } }

    func add(_ pid: pid_t) { state.withLock { _ = $0.pids.insert(pid) } }

    func remove(_ pid: pid_t) { state.withLock { _ = $0.pids.remove(pid) } }

    /// Sends `signal` to `pid` if it is still one of ours (not yet removed after its exit).
    func signal(_ pid: pid_t, _ number: Int32) {
        state.withLock { state in
            if state.pids.contains(pid) { kill(pid, number) }
        }
    }

    /// Kills the tracked processes and stops the lab (SIGCONT first for a frozen BMC, then
    /// SIGTERM, SIGKILL after 2 s). Returns the work directory. Runs once.
    @discardableResult
    func stopAll() -> URL? {
        let (lab, pids, directory, first) = state.withLock { state in
            defer { state.stopping = true }
            return (state.lab, state.pids, state.workDirectory, !state.stopping)
        }
        guard first else { return directory }
        for pid in pids { kill(pid, SIGKILL) }
        lab?.stopNow()
        return directory
    }
}
