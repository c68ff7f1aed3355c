import Core
import Foundation
import PostgreSQLStore
import PostgresNIO
import Store
import Testing

/// What only the PostgreSQL store has: several pools (processes) on one database, migrations
/// serialised by an advisory lock, and a server that does not answer. Needs
/// the test server (see `PostgreSQLTestServer`).
@Suite("PostgreSQL store specifics", .enabled(if: !PostgreSQLTestServer.isSkipped))
struct PostgreSQLStoreTests {
    /// Separate stores behave like separate processes: separate pools that only PostgreSQL's
    /// row locks coordinate. Many tasks per store, several rounds.
    @Test func reservationRaceAcrossPools() async throws {
        try await PostgreSQLTestServer.withDatabase { url in
            let stores = (0..<4).map { _ in PostgreSQLTestServer.store(url) }
            _ = try await stores[0].upgrade()
            for _ in 0..<5 {
                try await StoreConformance.reservationRace(stores, contenders: 40)
            }
            for store in stores { await store.shutdown() }
        }
    }

    /// Many tasks on one pool, more than it has connections: they queue for connections and
    /// still see exactly one winner.
    @Test func reservationRaceOnOnePool() async throws {
        try await PostgreSQLTestServer.withStore { store in
            for _ in 0..<5 {
                try await StoreConformance.reservationRace([store], contenders: 50)
            }
        }
    }

    @Test func saveWhileAnotherPoolHoldsTheLock() async throws {
        try await PostgreSQLTestServer.withDatabase { url in
            let writer = PostgreSQLTestServer.store(url)
            let holder = PostgreSQLTestServer.store(url)
            _ = try await writer.upgrade()
            try await StoreConformance.saveWhileReserved(writer: writer, holder: holder)
            await writer.shutdown()
            await holder.shutdown()
        }
    }

    /// Several stores upgrading one empty database at once: the advisory lock makes them take
    /// turns, each reports version 1, and the migration is recorded once.
    @Test func concurrentUpgrades() async throws {
        for _ in 0..<3 {
            try await PostgreSQLTestServer.withDatabase { url in
                let stores = (0..<6).map { _ in PostgreSQLTestServer.store(url) }
                let versions = try await withThrowingTaskGroup(of: Int.self) { group in
                    for store in stores { group.addTask { try await store.upgrade() } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(versions == Array(repeating: 2, count: stores.count))
                let recorded = try await Self.scalar(url, "SELECT count(*) FROM schema_migrations")
                #expect(recorded == 2)
                let tables = try await Self.scalar(
                    url, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
                #expect(tables == 8, "chassis, nodes, portgroups, ports, conductors, node_history, node_inventory, schema_migrations")
                for store in stores {
                    #expect(try await store.schemaVersion() == 2)
                    await store.shutdown()
                }
            }
        }
    }

    @Test func schemaVersionStartsAtZero() async throws {
        try await PostgreSQLTestServer.withDatabase { url in
            let store = PostgreSQLTestServer.store(url)
            #expect(try await store.schemaVersion() == 0)
            // Every query fails cleanly before the schema exists.
            await #expect(throws: IronicError.self) { try await store.nodes(NodeQuery()) }
            #expect(try await store.upgrade() == 2)
            #expect(try await store.upgrade() == 2)
            let node = try await store.createNode(StoreConformance.fullNode())
            await store.shutdown()

            // Another pool (another process) sees the same schema and data.
            let reopened = PostgreSQLTestServer.store(url)
            #expect(try await reopened.schemaVersion() == 2)
            #expect(try await reopened.node(uuid: node.uuid) == node)
            await reopened.shutdown()
        }
    }

    /// After `shutdown()` the pool is closed: calls fail at once instead of waiting.
    @Test(.timeLimit(.minutes(1))) func callsAfterShutdownFail() async throws {
        try await PostgreSQLTestServer.withDatabase { url in
            let store = PostgreSQLTestServer.store(url)
            let version = try await store.upgrade()
            #expect(version == 2)
            await store.shutdown()
            let started = ContinuousClock.now
            await #expect(throws: IronicError.self) { try await store.schemaVersion() }
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }

    /// The column types of migration v1, as a DBA would see them.
    @Test func schemaTypes() async throws {
        try await PostgreSQLTestServer.withDatabase { url in
            let store = PostgreSQLTestServer.store(url)
            _ = try await store.upgrade()
            await store.shutdown()
            let types = try await Self.strings(
                url,
                """
                SELECT table_name || '.' || column_name || ':' || data_type FROM information_schema.columns
                WHERE table_schema = 'public' AND column_name IN ('created_at', 'maintenance', 'extra', 'user')
                ORDER BY 1
                """)
            #expect(types.contains("nodes.created_at:timestamp with time zone"))
            #expect(types.contains("nodes.maintenance:boolean"))
            #expect(types.contains("nodes.extra:text"))
            #expect(types.contains("node_history.user:text"))
        }
    }

    /// A server that does not answer fails calls instead of hanging them.
    @Test(.timeLimit(.minutes(1))) func unreachableServerFails() async throws {
        let store = try PostgreSQLStore(
            connection: "postgresql://nobody:pw@127.0.0.1:1/ironic?sslmode=disable", connectionTimeout: .seconds(2))
        let started = ContinuousClock.now
        await #expect {
            try await store.schemaVersion()
        } throws: { error in
            guard let error = error as? IronicError else { return false }
            return error.status == 500 && error.message.contains("127.0.0.1:1") && !error.message.contains("pw")
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        await store.shutdown()
    }

    // MARK: Helpers

    static func scalar(_ url: PostgreSQLConnectionURL, _ sql: String) async throws -> Int64 {
        try #require(try await rows(url, sql) { try PostgresRandomAccessRow($0)[0].decode(Int64.self) }.first)
    }

    static func strings(_ url: PostgreSQLConnectionURL, _ sql: String) async throws -> [String] {
        try await rows(url, sql) { try PostgresRandomAccessRow($0)[0].decode(String.self) }
    }

    /// Runs a query with a short-lived client and decodes each row.
    static func rows<T: Sendable>(_ url: PostgreSQLConnectionURL, _ sql: String, _ decode: @escaping @Sendable (PostgresRow) throws -> T)
        async throws -> [T]
    {
        let client = PostgresClient(configuration: url.clientConfiguration, backgroundLogger: PostgreSQLStore.defaultLogger)
        return try await withThrowingTaskGroup(of: [T].self) { group in
            group.addTask {
                await client.run()
                return []
            }
            defer { group.cancelAll() }
            return try await client.query(PostgresQuery(unsafeSQL: sql)).collect().map(decode)
        }
    }
}
