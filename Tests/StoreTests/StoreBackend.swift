import Core
import Foundation
import PostgreSQLStore
import SQLiteStore
import Store
import Testing

/// The stores every conformance check runs against.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// `SQLiteStore.inMemory()`.
    case sqliteMemory = "sqlite-memory"
    /// A SQLite database file (a WAL `DatabasePool`) in a fresh temporary directory.
    case sqliteFile = "sqlite-file"
    /// A `PostgreSQLStore` on a fresh database of the test server (see `PostgreSQLTestServer`).
    case postgresql

    var testDescription: String { rawValue }

    /// Every backend, without PostgreSQL when `IRONIC_TEST_POSTGRES=skip`.
    static var enabled: [Backend] {
        PostgreSQLTestServer.isSkipped ? allCases.filter { $0 != .postgresql } : allCases
    }

    /// Runs `body` with a fresh, upgraded store, then removes its files or database.
    func run(_ body: (any Store) async throws -> Void) async throws {
        switch self {
        case .sqliteMemory:
            let store = try SQLiteStore.inMemory()
            _ = try await store.upgrade()
            try await body(store)
        case .sqliteFile:
            try await withTemporaryDirectory { directory in
                let store = try SQLiteStore(path: directory + "/nested/ironic.sqlite")
                _ = try await store.upgrade()
                try await body(store)
            }
        case .postgresql:
            try await PostgreSQLTestServer.withStore { try await body($0) }
        }
    }
}

/// Runs `body` with the path of a new temporary directory, removed afterwards.
func withTemporaryDirectory(_ body: (String) async throws -> Void) async throws {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("ironic-store-tests-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try await body(directory)
}
