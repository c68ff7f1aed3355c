import Foundation
import Logging
import PostgreSQLStore
import PostgresNIO
import Testing

/// The PostgreSQL server the store tests use: `IRONIC_TEST_POSTGRES_URL`, a superuser URL on
/// 127.0.0.1 (`make unit-test` starts a throwaway server and sets it). Each test gets a database
/// of its own, created from that URL and dropped afterwards.
///
/// Without the variable the PostgreSQL tests fail, saying how to start a server, unless
/// `IRONIC_TEST_POSTGRES=skip` asks to leave PostgreSQL out.
enum PostgreSQLTestServer {
    /// Whether `IRONIC_TEST_POSTGRES=skip` leaves PostgreSQL out of the store tests.
    static var isSkipped: Bool {
        ProcessInfo.processInfo.environment["IRONIC_TEST_POSTGRES"] == "skip"
    }

    /// The PostgreSQL tests cannot run.
    struct Unavailable: Error, CustomStringConvertible {
        let description: String
    }

    /// The server's superuser URL. Throws `Unavailable` when it is missing or malformed.
    static func serverURL() throws -> PostgreSQLConnectionURL {
        guard let text = ProcessInfo.processInfo.environment["IRONIC_TEST_POSTGRES_URL"], !text.isEmpty else {
            throw Unavailable(
                description: """
                    IRONIC_TEST_POSTGRES_URL is not set, so the PostgreSQL store tests cannot run. Start the \
                    throwaway test server and export its URL:
                        make postgres-up && export IRONIC_TEST_POSTGRES_URL=$(scripts/test-postgres.sh url)
                    (`make unit-test` does both), or set IRONIC_TEST_POSTGRES=skip to leave PostgreSQL out.
                    """)
        }
        do {
            return try PostgreSQLConnectionURL(text)
        } catch {
            throw Unavailable(description: "IRONIC_TEST_POSTGRES_URL: \(error)")
        }
    }

    /// Runs `body` with the URL of a new, empty database, dropped afterwards (also when `body` throws).
    static func withDatabase(_ body: (PostgreSQLConnectionURL) async throws -> Void) async throws {
        let server = try serverURL()
        let name = "ironic_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await execute(on: server, "CREATE DATABASE \(name)")
        var url = server
        url.database = name
        let result: Result<Void, any Error>
        do {
            try await body(url)
            result = .success(())
        } catch {
            result = .failure(error)
        }
        try await execute(on: server, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        try result.get()
    }

    /// A store on `url` with a small pool: tests run in parallel, and the server (perhaps not
    /// the throwaway one) has a limited number of connections.
    static func store(_ url: PostgreSQLConnectionURL) -> PostgreSQLStore {
        PostgreSQLStore(url: url, maximumConnections: 4)
    }

    /// Runs a new, upgraded store on a new database, shutting it down and dropping the database afterwards.
    static func withStore(_ body: (PostgreSQLStore) async throws -> Void) async throws {
        try await withDatabase { url in
            let store = PostgreSQLTestServer.store(url)
            do {
                _ = try await store.upgrade()
                try await body(store)
            } catch {
                await store.shutdown()
                throw error
            }
            await store.shutdown()
        }
    }

    /// Runs `sql` (one statement each) on the server URL's database with a short-lived client.
    static func execute(on url: PostgreSQLConnectionURL, _ sql: String...) async throws {
        let client = PostgresClient(configuration: url.clientConfiguration, backgroundLogger: PostgreSQLStore.defaultLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            do {
                for statement in sql { try await client.query(PostgresQuery(unsafeSQL: statement)) }
            } catch {
                group.cancelAll()
                throw Unavailable(description: "PostgreSQL test server at \(url.endpoint): \(String(reflecting: error))")
            }
            group.cancelAll()
        }
    }
}
