import Core
import Foundation
import GRDB
import SQLiteStore
import Store
import Testing

@Suite("SQLite store specifics")
struct SQLiteStoreTests {
    /// Separate stores on one file behave like separate processes: separate connections that
    /// only SQLite's locking (and the busy timeout) coordinates.
    @Test func reservationRaceAcrossConnections() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/ironic.sqlite"
            let first = try SQLiteStore(path: path)
            _ = try await first.upgrade()
            var stores: [any Store] = [first]
            for _ in 1..<5 { stores.append(try SQLiteStore(path: path)) }
            for round in 0..<5 {
                _ = round
                try await StoreConformance.reservationRace(stores, contenders: 20)
            }
        }
    }

    @Test func saveWhileReservedAcrossConnections() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/ironic.sqlite"
            let writer = try SQLiteStore(path: path)
            _ = try await writer.upgrade()
            try await StoreConformance.saveWhileReserved(writer: writer, holder: try SQLiteStore(path: path))
        }
    }

    @Test func schemaVersionStartsAtZero() async throws {
        let store = try SQLiteStore.inMemory()
        #expect(try await store.schemaVersion() == 0)
        let version = try await store.upgrade()
        #expect(version == 2)
        #expect(try await store.upgrade() == version)
        #expect(try await store.schemaVersion() == version)
    }

    @Test func concurrentUpgradesOfOneFile() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/ironic.sqlite"
            let stores = try (0..<4).map { _ in try SQLiteStore(path: path) }
            let versions = try await withThrowingTaskGroup(of: Int.self) { group in
                for store in stores { group.addTask { try await store.upgrade() } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(versions == [2, 2, 2, 2])
        }
    }

    /// Another process holding the file locked past the busy timeout while a store opens it
    /// (as when several conductors and an API start together): opening waits for it instead
    /// of failing with "database is locked".
    @Test func openingWaitsForALockHeldPastTheBusyTimeout() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/ironic.sqlite"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var holding = Configuration()
            holding.allowsUnsafeTransactions = true  // the lock outlives one database access
            let holder = try DatabaseQueue(path: path, configuration: holding)
            try await holder.writeWithoutTransaction { db in try db.execute(sql: "BEGIN EXCLUSIVE TRANSACTION") }
            let held = SQLiteStore.busyTimeout + 2
            let release = Task {
                try await Task.sleep(for: .seconds(held))
                try await holder.writeWithoutTransaction { db in try db.execute(sql: "COMMIT") }
            }
            let started = ContinuousClock.now
            let store = try await Task.detached { try SQLiteStore(path: path) }.value
            #expect(ContinuousClock.now - started >= .seconds(held), "opened only once the lock was released")
            try await release.value
            #expect(try await store.upgrade() == 2)
        }
    }

    @Test func schemaPersistsInTheFile() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/a/b/ironic.sqlite"
            let store = try SQLiteStore(path: path)
            #expect(try await store.schemaVersion() == 0)
            #expect(try await store.upgrade() == 2)
            let node = try await store.createNode(StoreConformance.fullNode())
            #expect(FileManager.default.fileExists(atPath: path))

            let reopened = try SQLiteStore(connection: "sqlite:///" + path)
            #expect(try await reopened.schemaVersion() == 2)
            #expect(try await reopened.node(uuid: node.uuid) == node)
        }
    }

    @Test func connectionURLs() async throws {
        // In memory.
        for url in ["sqlite://", "sqlite:///:memory:", "sqlite://?timeout=5"] {
            let store = try SQLiteStore(connection: url)
            #expect(try await store.upgrade() == 2, "\(url)")
        }
        try await withTemporaryDirectory { directory in
            // Absolute: four slashes.
            let absolute = try SQLiteStore(connection: "sqlite:///\(directory)/abs/ironic.sqlite?timeout=30")
            _ = try await absolute.upgrade()
            #expect(FileManager.default.fileExists(atPath: directory + "/abs/ironic.sqlite"))

            // Relative: three slashes, against the current directory.
            let cwd = FileManager.default.currentDirectoryPath
            let relativeDirectory = "ironic-store-test-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: cwd + "/" + relativeDirectory) }
            let relative = try SQLiteStore(connection: "sqlite:///\(relativeDirectory)/ironic.sqlite")
            _ = try await relative.upgrade()
            #expect(FileManager.default.fileExists(atPath: "\(cwd)/\(relativeDirectory)/ironic.sqlite"))
        }

        for url in ["mysql+pymysql://ironic:pw@localhost/ironic", "postgresql://localhost/ironic"] {
            #expect {
                _ = try SQLiteStore(connection: url)
            } throws: { error in
                guard let error = error as? IronicError else { return false }
                return error.status == 400 && error.message.contains("not supported by the SQLite store")
                    && error.message.contains(String(url.prefix { $0 != ":" }))
            }
        }
        for url in ["ironic.sqlite", "sqlite:/x", "sqlite://host/path.db"] {
            #expect(throws: IronicError.self) { _ = try SQLiteStore(connection: url) }
        }
    }

    /// Every node query works without a schema as an error, not a crash.
    @Test func unmigratedDatabaseFailsCleanly() async throws {
        let store = try SQLiteStore.inMemory()
        await #expect(throws: IronicError.self) { try await store.nodes(NodeQuery()) }
    }
}
