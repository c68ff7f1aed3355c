import Foundation
import Synchronization
import Testing

@testable import IPMI

/// Counts how many jobs run at once and the most that ever did.
private final class Occupancy: Sendable {
    private let state = Mutex((current: 0, peak: 0))
    func enter() {
        state.withLock {
            $0.current += 1; $0.peak = max($0.peak, $0.current)
        }
    }
    func leave() { state.withLock { $0.current -= 1 } }
    var peak: Int { state.withLock { $0.peak } }
}

/// Start and end instants of operations, in completion order.
private final class Spans: Sendable {
    private let state = Mutex<[(start: ContinuousClock.Instant, end: ContinuousClock.Instant)]>([])
    func append(_ start: ContinuousClock.Instant, _ end: ContinuousClock.Instant) { state.withLock { $0.append((start, end)) } }
    var all: [(start: ContinuousClock.Instant, end: ContinuousClock.Instant)] { state.withLock { $0 } }
}

@Suite("Blocking thread pool")
struct BlockingThreadPoolTests {
    @Test("No more than `threads` jobs run at once; the rest wait in the queue")
    func bounded() async throws {
        let pool = BlockingThreadPool(threads: 2, name: "TestPool")
        let occupancy = Occupancy()
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    try await pool.run {
                        occupancy.enter()
                        usleep(100_000)
                        occupancy.leave()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(occupancy.peak == 2)
        #expect(ContinuousClock.now - started >= .milliseconds(290))
    }

    @Test("Blocking jobs run on the pool's own threads and leave the cooperative pool free")
    func ownThreads() async throws {
        // More blocking jobs than the cooperative pool has threads: they can only all run at
        // once on threads of their own.
        let width = ProcessInfo.processInfo.activeProcessorCount + 4
        let pool = BlockingThreadPool(threads: width, name: "TestPool")
        let occupancy = Occupancy()
        let release = DispatchSemaphore(value: 0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<width {
                group.addTask {
                    try await pool.run {
                        occupancy.enter()
                        release.wait()
                        occupancy.leave()
                    }
                }
            }
            // Every job blocks until this cooperative task releases it. Were the jobs on the
            // cooperative pool, they could not all start and this task could not run: the
            // bound below is a deadlock guard, not a speed measurement.
            let deadline = ContinuousClock.now.advanced(by: .seconds(20))
            while occupancy.peak < width, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(occupancy.peak == width, "every job runs at once on the pool's own threads")
            for _ in 0..<width { release.signal() }
            try await group.waitForAll()
        }
        #expect(occupancy.peak == width)
    }

    @Test("Errors thrown on the pool reach the caller")
    func errors() async {
        let pool = BlockingThreadPool(threads: 1, name: "TestPool")
        let error = await #expect(throws: IPMIError.self) {
            try await pool.run { () throws -> Int in throw IPMIError(kind: .busy, message: "nope") }
        }
        #expect(error?.kind == .busy)
    }

    @Test("After shutdown queued work still runs and new work is refused")
    func shutdown() async throws {
        let pool = BlockingThreadPool(threads: 1, name: "TestPool")
        async let slow: Int = pool.run {
            usleep(50_000); return 1
        }
        try await Task.sleep(for: .milliseconds(10))
        pool.shutdown()
        #expect(try await slow == 1)
        await #expect(throws: IPMIError.self) { try await pool.run { 2 } }
    }
}

@Suite("Per-BMC gate")
struct BMCGateTests {
    @Test("One operation at a time per BMC, with the minimum interval between them")
    func serialisesWithInterval() async throws {
        let gate = BMCGate(minimumInterval: .milliseconds(100))
        let occupancy = Occupancy()
        let clock = ContinuousClock()
        let spans = Spans()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await gate.withLane("bmc-a:623") {
                        occupancy.enter()
                        let start = clock.now
                        try await Task.sleep(for: .milliseconds(20))
                        occupancy.leave()
                        let end = clock.now
                        spans.append(start, end)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(occupancy.peak == 1)
        let ordered = spans.all.sorted { $0.start < $1.start }
        for (previous, next) in zip(ordered, ordered.dropFirst()) {
            #expect(next.start - previous.end >= .milliseconds(100))
        }
    }

    @Test("Different BMCs do not wait for each other")
    func independentLanes() async throws {
        let gate = BMCGate(minimumInterval: .seconds(5))
        let occupancy = Occupancy()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<5 {
                group.addTask {
                    try await gate.withLane("bmc-\(index):623") {
                        occupancy.enter()
                        try await Task.sleep(for: .milliseconds(100))
                        occupancy.leave()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(occupancy.peak == 5, "different BMCs' lanes run at the same time")
    }

    @Test("A caller cancelled while queued leaves the queue; the lane stays usable")
    func cancellation() async throws {
        let gate = BMCGate(minimumInterval: .zero)
        let holder = Task { try await gate.withLane("bmc:623") { try await Task.sleep(for: .milliseconds(300)) } }
        try await Task.sleep(for: .milliseconds(50))
        let waiter = Task { try await gate.withLane("bmc:623") { 42 } }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        try await holder.value
        #expect(try await gate.withLane("bmc:623") { 7 } == 7)
        #expect(await gate.busyLanes == 0)
    }

    @Test("A failing operation releases its lane")
    func releaseOnError() async throws {
        let gate = BMCGate(minimumInterval: .zero)
        await #expect(throws: IPMIError.self) {
            try await gate.withLane("bmc:623") { () async throws -> Int in throw IPMIError(kind: .timeout, message: "t") }
        }
        #expect(try await gate.withLane("bmc:623") { 1 } == 1)
    }
}
