import PostgreSQLStore
import Testing

/// Parsing and redacting `[database] connection` URLs for PostgreSQL (no server needed).
@Suite("PostgreSQL connection URLs")
struct PostgreSQLConnectionURLTests {
    @Test func connectionURLs() throws {
        let full = try PostgreSQLConnectionURL("postgresql+psycopg2://ironic:s%40cret@db.example:6543/ironic?sslmode=disable")
        #expect(full.username == "ironic" && full.password == "s@cret" && full.database == "ironic")
        #expect(full.endpoint == .tcp(host: "db.example", port: 6543) && full.tls == .disable)

        let plain = try PostgreSQLConnectionURL("postgresql://ironic@127.0.0.1/ironic")
        #expect(plain.endpoint == .tcp(host: "127.0.0.1", port: 5432) && plain.password == nil && plain.tls == .prefer)
        #expect(try PostgreSQLConnectionURL("postgres://u:p@[::1]:5433/d").endpoint == .tcp(host: "::1", port: 5433))
        #expect(try PostgreSQLConnectionURL("postgresql://u:p@h/").database == "u", "libpq: the user name")
        #expect(
            try PostgreSQLConnectionURL("postgresql://u@/ironic?host=/run/postgresql").endpoint
                == .unixSocket(path: "/run/postgresql/.s.PGSQL.5432"))
        #expect(try PostgreSQLConnectionURL("postgresql://u:p@h/d?sslmode=require&connect_timeout=5").tls == .require)

        for bad in [
            "mysql+pymysql://ironic:topsecret@db/ironic", "postgresql://ironic:topsecret@db:99999/ironic",
            "postgresql://ironic:topsecret@db/ironic?sslmode=maybe", "postgresql://ironic:topsecret@/ironic",
            "postgresql:/ironic:topsecret@db/ironic",
        ] {
            #expect {
                _ = try PostgreSQLConnectionURL(bad)
            } throws: { error in
                guard let error = error as? PostgreSQLConnectionURL.ParseError else { return false }
                return !error.description.contains("topsecret") && error.description.contains("***")
                    && error.description.contains("Invalid PostgreSQL connection URL")
            }
        }
        #expect(PostgreSQLConnectionURL.redacted("postgresql://u:p%40ss@h/d") == "postgresql://u:***@h/d")
        #expect(PostgreSQLConnectionURL.redacted("postgresql://u@h/d?password=x&a=b") == "postgresql://u@h/d?password=***&a=b")
        #expect(PostgreSQLConnectionURL.redacted("postgresql://u:p@ss@h/d") == "postgresql://u:***@h/d")
        #expect(PostgreSQLConnectionURL.redacted("u:p@h") == "u:***@h")
    }
}
