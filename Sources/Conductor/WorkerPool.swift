import Core
import Synchronization

/// Runs a conductor's asynchronous actions (deploys, power changes, ...), at most
/// `[conductor] workers_pool_size` at once, and lets a stopping conductor wait for them.
public final class WorkerPool: Sendable {
    private struct State {
        var running: [Int: Task<Void, Never>] = [:]
        var nextID = 0
        var accepting = true
    }

    private let capacity: Int
    private let state = Mutex(State())

    /// A pool that runs at most `capacity` actions at once.
    public init(capacity: Int) {
        self.capacity = capacity
    }

    /// Number of actions in flight.
    public var runningCount: Int { state.withLock { $0.running.count } }

    /// Starts `work` in the background.
    ///
    /// - Throws: `NoFreeConductorWorker` (503) when the pool is full or draining; the caller
    ///   still owns whatever it prepared (for example the node's lock) and must release it.
    public func start(_ work: @escaping @Sendable () async -> Void) throws(IronicError) {
        try state.withLock { (state: inout State) throws(IronicError) in
            guard state.accepting, state.running.count < capacity else { throw .noFreeConductorWorker() }
            let id = state.nextID
            state.nextID += 1
            state.running[id] = Task { [weak self] in
                await work()
                self?.finished(id)
            }
        }
    }

    private func finished(_ id: Int) {
        _ = state.withLock { $0.running.removeValue(forKey: id) }
    }

    /// Stops accepting work and waits for running actions, at most `timeout`.
    /// Returns the number of actions still running when it gave up.
    public func drain(timeout: Duration) async -> Int {
        state.withLock { $0.accepting = false }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            if runningCount == 0 { return 0 }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return runningCount
    }
}
