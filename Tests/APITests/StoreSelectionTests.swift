import Core
import Server
import Testing

/// `[database] connection` picks the store by its URL scheme.
@Suite("Store selection")
struct StoreSelectionTests {
    @Test func schemes() throws {
        #expect(try StoreSelection(connection: "sqlite:///var/ironic.sqlite") == .sqlite)
        #expect(try StoreSelection(connection: "sqlite://") == .sqlite)
        for url in [
            "postgresql://ironic:pw@127.0.0.1/ironic", "postgresql+psycopg2://ironic:pw@db:5432/ironic",
            "postgres://ironic@db/ironic", "PostgreSQL://ironic@db/ironic",
        ] {
            #expect(try StoreSelection(connection: url) == .postgresql, "\(url)")
        }
        for url in ["mysql+pymysql://ironic:topsecret@db/ironic", "ironic.sqlite", ""] {
            #expect {
                _ = try StoreSelection(connection: url)
            } throws: { error in
                guard let error = error as? ConfigError else { return false }
                return error.source == "[database] connection" && !error.description.contains("topsecret")
            }
        }
    }

    @Test func makeStoreOpensTheBackend() async throws {
        var config = IronicConfig()
        config.database.connection = "sqlite://"
        let sqlite = try ServiceFactory.makeStore(config)
        #expect(String(describing: type(of: sqlite)) == "SQLiteStore")
        #expect(try await sqlite.upgrade() == 2)

        // Opening a PostgreSQL store connects to nothing yet.
        config.database.connection = "postgresql+psycopg2://ironic:pw@127.0.0.1:5432/ironic?sslmode=disable"
        #expect(String(describing: type(of: try ServiceFactory.makeStore(config))) == "PostgreSQLStore")

        config.database.connection = "postgresql://ironic:topsecret@127.0.0.1:notaport/ironic"
        #expect {
            _ = try ServiceFactory.makeStore(config)
        } throws: { error in
            "\(error)".contains("notaport") && !"\(error)".contains("topsecret")
        }
    }
}
