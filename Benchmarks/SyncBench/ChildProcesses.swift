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
/// processes, by PID) and a running ipmipower. A SIGINT or SIGTERM ends both and exits with 130.
///
/// Only PIDs recorded here are ever signalled. A signal that arrives while the lab is starting
/// is acted on as soon as `Lab.start` returns (it is bounded by the lab's start timeout): until
/// then nobody knows the PIDs of the BMCs being started.
final class ChildProcesses: Sendable {
    private struct State {
        var lab: Lab?
        var pids: Set<pid_t> = []
        var workDirectory: URL?
        var labStarting = false
        var interrupted = false
        /// The signal handler is stopping everything and will exit.
        var handlerExits = false
        var stopped = false
    }

    private let state = Mutex(State())
    private let sources = Mutex<[SignalSource]>([])

    /// Keeps a signal source alive; it is only touched while installing it.
    private final class SignalSource: @unchecked Sendable {
        let source: any DispatchSourceSignal
        init(_ source: any DispatchSourceSignal) { self.source = source }
    }

    /// Starts handling SIGINT and SIGTERM.
    func handleSignals() {
        let installed = [SIGINT, SIGTERM].map { number -> SignalSource in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in
                let handlerExits = state.withLock { state in
                    state.interrupted = true
                    state.handlerExits = !state.labStarting
                    return state.handlerExits
                }
                guard handlerExits else {
                    print("\nsignal \(number): stopping once the lab has started")
                    fflush(nil)
                    return
                }
                print("\nsignal \(number): stopping the lab and ipmipower")
                exitInterrupted()
            }
            source.resume()
            return SignalSource(source)
        }
        sources.withLock { $0 = installed }
    }

    /// Whether a signal is ending the run.
    var interrupted: Bool { state.withLock { $0.interrupted } }

    /// After a failure: when a signal caused it, ends the run as the signal asks (exit 130)
    /// instead of reporting a failure. Returns only when no signal arrived.
    func exitIfInterrupted() async {
        let (interrupted, handlerExits) = state.withLock { ($0.interrupted, $0.handlerExits) }
        guard interrupted else { return }
        guard handlerExits else { exitInterrupted() }
        // The handler is stopping the lab and exits when done (within about 5 s).
        for _ in 0..<300 { try? await Task.sleep(for: .milliseconds(100)) }
        exit(130)
    }

    /// Marks the start of `Lab.start`: a signal now waits for it.
    func labStarting() { state.withLock { $0.labStarting = true } }

    /// Records the started lab (nil once it is stopped); if a signal came during the start,
    /// stops everything and exits.
    func setLab(_ lab: Lab?) {
        let interrupted = state.withLock { state in
            state.lab = lab
            state.labStarting = false
            return state.interrupted && !state.handlerExits
        }
        if interrupted { exitInterrupted() }
    }

    /// The directory to name when a signal ends the run.
    func setWorkDirectory(_ url: URL?) { state.withLock { $0.workDirectory = url } }

    func add(_ pid: pid_t) { state.withLock { _ = $0.pids.insert(pid) } }

    func remove(_ pid: pid_t) { state.withLock { _ = $0.pids.remove(pid) } }

    /// Sends `signal` to `pid` if it is still one of ours (not yet removed after its exit).
    func send(_ number: Int32, to pid: pid_t) {
        state.withLock { state in
            if state.pids.contains(pid) { kill(pid, number) }
        }
    }

    /// Kills the tracked processes and stops the lab (SIGCONT first for a frozen BMC, then
    /// SIGTERM, SIGKILL after 2 s). Runs once; later calls return at once.
    func stopAll() {
        let (lab, pids, first) = state.withLock { state in
            defer { state.stopped = true }
            return (state.lab, state.pids, !state.stopped)
        }
        guard first else { return }
        for pid in pids { kill(pid, SIGKILL) }
        lab?.stopNow()
    }

    private func exitInterrupted() -> Never {
        stopAll()
        if let directory = state.withLock({ $0.workDirectory }) { print("kept \(directory.path)") }
        fflush(nil)
        exit(130)
    }
}
