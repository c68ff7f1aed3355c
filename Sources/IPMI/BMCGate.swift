/// Paces the commands sent to each BMC: at most one operation in flight per BMC, and at least
/// `minimumInterval` between the end of one operation and the start of the next to the same BMC.
///
/// Many BMCs handle one session at a time and drop or refuse the rest (Ironic's
/// `[ipmi]min_command_interval` exists for the same reason). Different BMCs never wait for each
/// other: each key (`host:port`) has its own lane.
///
/// Threading contract: waiting happens in this actor's suspended continuations and in
/// `Task.sleep`, never on a thread, so a queue of callers for a slow BMC costs no pool thread.
/// Waiters are served FIFO. A caller cancelled while queued leaves the queue with
/// `CancellationError`.
actor BMCGate {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct Lane {
        var busy = false
        var lastFinished: ContinuousClock.Instant?
        var waiters: [Waiter] = []
    }

    let minimumInterval: Duration
    private let clock = ContinuousClock()
    private var lanes: [String: Lane] = [:]
    private var nextWaiterID: UInt64 = 0
    private var pruneThreshold = 256

    /// Creates a gate; a zero interval only serialises.
    init(minimumInterval: Duration) {
        self.minimumInterval = max(minimumInterval, .zero)
    }

    /// Runs `body` holding `key`'s lane.
    func withLane<T: Sendable>(_ key: String, _ body: @Sendable () async throws -> T) async throws -> T {
        try await acquire(key)
        do {
            let result = try await body()
            release(key)
            return result
        } catch {
            release(key)
            throw error
        }
    }

    /// Waits for `key`'s lane, then for the minimum interval since its last operation.
    func acquire(_ key: String) async throws {
        try Task.checkCancellation()
        if lanes[key, default: Lane()].busy {
            let id = nextWaiterID
            nextWaiterID &+= 1
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    lanes[key, default: Lane()].waiters.append(Waiter(id: id, continuation: continuation))
                }
            } onCancel: {
                Task { await self.cancelWaiter(key, id) }
            }
            // Ownership was handed over by `release`: `busy` is still true.
        } else {
            lanes[key, default: Lane()].busy = true
        }
        if let last = lanes[key]?.lastFinished {
            let start = last.advanced(by: minimumInterval)
            if start > clock.now {
                do {
                    try await Task.sleep(until: start, clock: clock)
                } catch {
                    handOver(key)
                    throw error
                }
            }
        }
        do {
            try Task.checkCancellation()
        } catch {
            handOver(key)
            throw error
        }
    }

    /// Marks the end of an operation on `key` and hands the lane to the next waiter.
    func release(_ key: String) {
        lanes[key]?.lastFinished = clock.now
        handOver(key)
    }

    /// Number of lanes currently held (for tests).
    var busyLanes: Int { lanes.values.filter(\.busy).count }

    private func handOver(_ key: String) {
        guard var lane = lanes[key] else { return }
        if lane.waiters.isEmpty {
            lane.busy = false
            lanes[key] = lane
            pruneIfLarge()
        } else {
            let next = lane.waiters.removeFirst()
            lanes[key] = lane
            next.continuation.resume()
        }
    }

    private func cancelWaiter(_ key: String, _ id: UInt64) {
        guard let index = lanes[key]?.waiters.firstIndex(where: { $0.id == id }) else { return }
        let waiter = lanes[key]!.waiters.remove(at: index)
        waiter.continuation.resume(throwing: CancellationError())
    }

    /// Forgets idle lanes whose interval has passed, so the table does not grow with every BMC
    /// ever seen.
    private func pruneIfLarge() {
        guard lanes.count > pruneThreshold else { return }
        let now = clock.now
        lanes = lanes.filter { _, lane in
            lane.busy || !lane.waiters.isEmpty
                || (lane.lastFinished.map { $0.advanced(by: minimumInterval) > now } ?? false)
        }
        pruneThreshold = max(256, lanes.count * 2)
    }
}
