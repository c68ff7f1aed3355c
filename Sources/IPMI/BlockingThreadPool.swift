import Dispatch
import Foundation
import Synchronization

/// A fixed number of OS threads that run blocking work, FIFO.
///
/// libfreeipmi blocks its calling thread for up to a session timeout, so its calls must never run
/// on the Swift cooperative pool (a handful of dead BMCs would starve every task in the process)
/// nor on `DispatchQueue.global()` (which grows threads without bound). This pool is the only
/// place they run: `threads` threads, created up front, each waiting on a semaphore for the next
/// job in a mutex-protected queue.
///
/// Threading contract: `run` may be called from any task; its body runs on one of the pool's
/// threads and must not touch actors or await. Work queued behind busy threads waits in the queue,
/// not on a thread. After `shutdown()` queued jobs still run, new jobs are refused, and the
/// threads exit once the queue is empty.
final class BlockingThreadPool: Sendable {
    /// What the threads share; the threads hold this, not the pool, so dropping the pool can shut
    /// them down.
    private final class Shared: Sendable {
        struct Queue {
            var jobs: [@Sendable () -> Void] = []
            var head = 0
            var isShutDown = false

            mutating func pop() -> (@Sendable () -> Void)? {
                guard head < jobs.count else { return nil }
                let job = jobs[head]
                head += 1
                if head > 64, head * 2 > jobs.count {
                    jobs.removeFirst(head)
                    head = 0
                }
                return job
            }
        }

        let queue = Mutex(Queue())
        /// Counts queued jobs plus one wake-up per thread after shutdown.
        let available = DispatchSemaphore(value: 0)

        func worker() {
            while true {
                available.wait()
                let next: (@Sendable () -> Void)?? = queue.withLock { queue in
                    if let job = queue.pop() { return .some(job) }
                    return queue.isShutDown ? .none : .some(nil)
                }
                switch next {
                case .some(.some(let job)): job()
                case .some(.none): continue
                case .none: return
                }
            }
        }
    }

    private let shared = Shared()
    /// Number of threads.
    let threadCount: Int

    /// Starts `threads` threads (at least one) named `"\(name) #n"`.
    init(threads: Int, name: String) {
        threadCount = max(1, threads)
        for index in 0..<threadCount {
            let shared = self.shared
            let threadName = "\(name) #\(index + 1)"
            let thread = Thread {
                // Set from inside: on Linux only the running thread's own name reaches the OS
                // (and a new thread otherwise inherits its creator's, often a cooperative one's).
                Thread.current.name = threadName
                shared.worker()
            }
            thread.start()
        }
    }

    deinit { shutdown() }

    /// Queues `job`; false when the pool has been shut down.
    @discardableResult
    func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        let accepted = shared.queue.withLock { queue in
            guard !queue.isShutDown else { return false }
            queue.jobs.append(job)
            return true
        }
        if accepted { shared.available.signal() }
        return accepted
    }

    /// Runs `body` on a pool thread and returns its result to the calling task.
    ///
    /// Cancellation is not propagated into `body`: a libfreeipmi call cannot be interrupted, and
    /// it is bounded by its session timeout anyway.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let accepted = submit { continuation.resume(with: Result { try body() }) }
            if !accepted {
                continuation.resume(throwing: IPMIError(kind: .other, message: "The IPMI client has been shut down."))
            }
        }
    }

    /// Refuses new work; the threads finish what is queued, then exit. Idempotent.
    func shutdown() {
        let first = shared.queue.withLock { queue in
            defer { queue.isShutDown = true }
            return !queue.isShutDown
        }
        guard first else { return }
        for _ in 0..<threadCount { shared.available.signal() }
    }
}
