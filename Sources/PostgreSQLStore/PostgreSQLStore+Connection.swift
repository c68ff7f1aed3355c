import Core
import PostgresNIO
import Synchronization

extension PostgreSQLStore {
    /// Leases a pooled connection for `body`, waiting at most `connectionTimeout` for it.
    ///
    /// postgres-nio's pool keeps retrying a server it cannot reach and lets requests wait for
    /// as long as that takes; here a request gives up when no connection came in time (its
    /// lease request is cancelled). Once `body` runs it is never cancelled by the timeout, so a
    /// statement sent is a statement whose outcome the caller learns.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let leased = LeaseFlag()
        let client = client
        let timeout = connectionTimeout
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await client.withConnection { connection in
                    guard leased.markLeased() else { throw CancellationError() }
                    return try await body(connection)
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            while let next = try await group.next() {
                if let result = next {
                    group.cancelAll()
                    return result
                }
                // The timer fired: give up unless the connection came first.
                if leased.expire() {
                    group.cancelAll()
                    throw IronicError.internalError(
                        "Database error: no connection to the PostgreSQL server at \(endpoint) within \(timeout)")
                }
            }
            throw CancellationError()
        }
    }
}

/// Whether a request got its connection before its deadline; exactly one of the two wins.
private final class LeaseFlag: Sendable {
    private enum State { case waiting, leased, expired }
    private let state = Mutex(State.waiting)

    /// The connection arrived; `false` when the deadline passed first.
    func markLeased() -> Bool {
        state.withLock { state in
            guard state == .waiting else { return false }
            state = .leased
            return true
        }
    }

    /// The deadline passed; `true` when no connection had arrived (the request then fails).
    func expire() -> Bool {
        state.withLock { state in
            guard state == .waiting else { return false }
            state = .expired
            return true
        }
    }
}
