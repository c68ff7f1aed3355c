import Core
import PostgreSQLStore
import SQLiteStore
import Store

/// Which `Store` backend a `[database] connection` URL names, by its scheme.
public enum StoreSelection: Sendable, Hashable {
    /// `sqlite://...`: the embedded SQLite store.
    case sqlite
    /// `postgresql://`, `postgres://` or `postgresql+psycopg2://`: the PostgreSQL store.
    case postgresql

    /// The backend for `connection`. Throws `ConfigError` for any other scheme (`mysql+pymysql://`, a
    /// bare path, ...), naming the scheme but never the URL (it may hold a password).
    public init(connection: String) throws(ConfigError) {
        let scheme = connection.range(of: "://").map { connection[..<$0.lowerBound].lowercased() }
        switch scheme {
        case "sqlite": self = .sqlite
        case let scheme? where PostgreSQLConnectionURL.schemes.contains(scheme): self = .postgresql
        case let scheme?:
            throw ConfigError(
                source: "[database] connection",
                message: "the scheme \"\(scheme)\" is not supported; use sqlite:///<path> or "
                    + "postgresql://<user>:<password>@<host>:<port>/<database>")
        case nil:
            throw ConfigError(
                source: "[database] connection",
                message: "expected a URL such as sqlite:///<path> or "
                    + "postgresql://<user>:<password>@<host>:<port>/<database>")
        }
    }

    /// Opens the store `connection` names (its schema untouched; see `Store.upgrade()`).
    /// A PostgreSQL store owns its connection pool's background task for its lifetime. Throws
    /// `ConfigError` for an unknown scheme, `PostgreSQLConnectionURL.ParseError` for a bad
    /// PostgreSQL URL, and the SQLite store's errors for a bad SQLite one.
    public static func makeStore(connection: String) throws -> any Store {
        switch try StoreSelection(connection: connection) {
        case .sqlite:
            return try SQLiteStore(connection: connection)
        case .postgresql:
            return try PostgreSQLStore(connection: connection)
        }
    }
}
