import Core
import Foundation
import Logging
import PostgresNIO
import Store

/// The PostgreSQL backend of `Store`, built on postgres-nio's `PostgresClient` connection pool.
///
/// Several API and conductor processes may share one database: every write is one statement or
/// one transaction, node locks are taken with one conditional `UPDATE ... RETURNING`, and
/// `upgrade()` serialises concurrent callers with a transaction-scoped advisory lock. The schema
/// is created and evolved only by `upgrade()`; opening a store never changes it.
///
/// ```swift
/// let store = try PostgreSQLStore(connection: "postgresql://ironic:secret@127.0.0.1:5432/ironic")
/// _ = try await store.upgrade()
/// let node = try await store.createNode(Node(driver: "fake-hardware"))
/// await store.shutdown()
/// ```
///
/// The pool needs a running `PostgresClient.run()`. The store owns that task: it starts in
/// `init` and ends in `shutdown()` (or when the store is deallocated), so callers use the store
/// like `SQLiteStore` and need not add the client to a `ServiceGroup`. After `shutdown()` every
/// call fails. Errors are `IronicError`s; unexpected database failures become a 500 naming the
/// SQLSTATE and the server's message.
public final class PostgreSQLStore: Store {
    /// Connections the pool opens at most, per store (per process). Each request holds one
    /// connection for one statement or transaction.
    public static let defaultMaximumConnections = 10
    /// How long a request waits for a pooled connection (the server may be down or every
    /// connection busy) before it fails with a 500.
    public static let defaultConnectionTimeout: Duration = .seconds(30)

    /// The connection pool.
    let client: PostgresClient
    /// Drives `client.run()`; cancelled by `shutdown()` and `deinit`.
    private let runTask: Task<Void, Never>
    /// Where postgres-nio logs.
    let logger: Logger
    /// See `defaultConnectionTimeout`.
    let connectionTimeout: Duration
    /// The server, for error messages (never the password).
    let endpoint: PostgreSQLConnectionURL.Endpoint

    /// Opens a pool to the database named by an Ironic connection URL (see
    /// `PostgreSQLConnectionURL`). No connection is made until the first call.
    ///
    /// Throws `PostgreSQLConnectionURL.ParseError` for a URL that cannot be used.
    public convenience init(
        connection: String, maximumConnections: Int = PostgreSQLStore.defaultMaximumConnections,
        connectionTimeout: Duration = PostgreSQLStore.defaultConnectionTimeout,
        logger: Logger = PostgreSQLStore.defaultLogger
    ) throws(PostgreSQLConnectionURL.ParseError) {
        let url = try PostgreSQLConnectionURL(connection)
        self.init(url: url, maximumConnections: maximumConnections, connectionTimeout: connectionTimeout, logger: logger)
    }

    /// Opens a pool to the database `url` names. No connection is made until the first call.
    public init(
        url: PostgreSQLConnectionURL, maximumConnections: Int = PostgreSQLStore.defaultMaximumConnections,
        connectionTimeout: Duration = PostgreSQLStore.defaultConnectionTimeout,
        logger: Logger = PostgreSQLStore.defaultLogger
    ) {
        var configuration = url.clientConfiguration
        configuration.options.maximumConnections = max(1, maximumConnections)
        configuration.options.connectTimeout = .seconds(10)
        self.logger = logger
        self.connectionTimeout = connectionTimeout
        self.endpoint = url.endpoint
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.runTask = Task { await client.run() }
    }

    /// postgres-nio's logger: warnings and errors only. (The pool logs each failed connection
    /// attempt at `info`; a request that cannot get a connection fails with its own error.)
    public static var defaultLogger: Logger {
        var logger = Logger(label: "ironic.postgresql")
        logger.logLevel = .error
        return logger
    }

    deinit {
        runTask.cancel()
    }

    /// Closes the pool's connections and waits until its background task ends. Calls made
    /// afterwards fail.
    public func shutdown() async {
        runTask.cancel()
        await runTask.value
    }

    // MARK: Access

    /// Runs one statement and returns every row; postgres-nio's errors are not mapped.
    func execute(_ sql: SQLStatement) async throws -> [PostgresRow] {
        let query = sql.query
        let logger = logger
        return try await withConnection { connection in
            try await connection.query(query, logger: logger).collect()
        }
    }

    /// Runs one statement and returns every row, mapping errors.
    func rows(_ sql: SQLStatement) async throws -> [PostgresRow] {
        do {
            return try await execute(sql)
        } catch {
            throw Self.mapped(error)
        }
    }

    /// Runs one statement and decodes every row with `decode`.
    func fetch<T>(_ sql: SQLStatement, _ decode: (Cells) throws -> T) async throws -> [T] {
        try await rows(sql).map { try decode(Cells($0)) }
    }

    /// Runs `body` in a transaction on one pooled connection: committed when it returns,
    /// rolled back when it throws. Errors are mapped; `body`'s own errors pass through.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (Transaction) async throws -> T) async throws -> T {
        let logger = logger
        do {
            return try await withConnection { connection in
                try await connection.withTransaction(logger: logger) { connection in
                    try await body(Transaction(connection: connection, logger: logger))
                }
            }
        } catch let error as PostgresTransactionError {
            throw Self.mapped(error.closureError ?? error.beginError ?? error.commitError ?? error)
        } catch {
            throw Self.mapped(error)
        }
    }

    /// Runs one row's UPDATE (ending in `RETURNING` the selection) and returns the row as
    /// stored: a constraint violation becomes `conflict`'s error, no row becomes `notFound`.
    /// Every `save*` goes through here.
    func updateRow<T>(
        _ sql: SQLStatement, decode: (Cells) throws -> T,
        conflict: (ConstraintViolation) async throws -> any Error,
        notFound: () -> IronicError
    ) async throws -> T {
        let rows: [PostgresRow]
        do {
            rows = try await execute(sql)
        } catch let error as PSQLError {
            if let violation = ConstraintViolation(error) { throw try await conflict(violation) }
            throw Self.mapped(error)
        } catch {
            throw Self.mapped(error)
        }
        guard let row = rows.first else { throw notFound() }
        return try decode(Cells(row))
    }

    /// Runs one INSERT; a constraint violation becomes `conflict`'s error.
    func insert(_ sql: SQLStatement, conflict: (ConstraintViolation) async throws -> any Error) async throws {
        do {
            _ = try await execute(sql)
        } catch let error as PSQLError {
            if let violation = ConstraintViolation(error) { throw try await conflict(violation) }
            throw Self.mapped(error)
        } catch {
            throw Self.mapped(error)
        }
    }

    /// Runs one DELETE ending in `RETURNING`; whether it deleted a row. A foreign key that
    /// refuses the delete becomes `referenced`.
    func deleteRow(_ sql: SQLStatement, referenced: () -> IronicError) async throws -> Bool {
        do {
            return try await !execute(sql).isEmpty
        } catch let error as PSQLError {
            if let violation = ConstraintViolation(error), violation.kind == .foreignKey { throw referenced() }
            throw Self.mapped(error)
        } catch {
            throw Self.mapped(error)
        }
    }

    /// Whether a row of `table` has this `uuid`.
    func exists(_ table: String, uuid: String) async throws -> Bool {
        var sql = SQLStatement("SELECT 1 FROM \(table) WHERE uuid = ")
        sql.bind(.text(uuid))
        return try await !rows(sql).isEmpty
    }

    /// `IronicError`s and cancellation pass through; anything else is an internal error.
    static func mapped(_ error: any Error) -> any Error {
        switch error {
        case is IronicError, is CancellationError: error
        default: IronicError.internalError("Database error: \(describe(error))")
        }
    }

    /// A description of a postgres-nio error with the server's SQLSTATE and message (its own
    /// `description` hides them).
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let info = error.serverInfo {
                return "\(info[.sqlState] ?? "?????"): \(info[.message] ?? "unknown")"
            }
            if let underlying = error.underlying { return "\(error.code): \(underlying)" }
            return "\(error.code)"
        }
        if let error = error as? PostgresDecodingError {
            return "cannot decode column \(error.columnName) (\(error.postgresType)) as \(error.targetType): \(error.code)"
        }
        return "\(error)"
    }
}

/// One transaction's connection, for `PostgreSQLStore.transaction`.
struct Transaction {
    let connection: PostgresConnection
    let logger: Logger

    /// Runs one statement in the transaction and returns every row.
    func rows(_ sql: SQLStatement) async throws -> [PostgresRow] {
        try await connection.query(sql.query, logger: logger).collect()
    }

    /// Runs one statement and returns the number of rows it returned.
    @discardableResult
    func run(_ sql: SQLStatement) async throws -> Int {
        try await rows(sql).count
    }
}

/// A unique or foreign key violation, by constraint name.
struct ConstraintViolation {
    enum Kind { case unique, foreignKey }
    let kind: Kind
    let constraint: String

    /// The violation an error reports (SQLSTATE 23505 or 23503), or `nil`.
    init?(_ error: PSQLError) {
        guard let info = error.serverInfo, let state = info[.sqlState] else { return nil }
        switch state {
        case "23505": kind = .unique
        case "23503": kind = .foreignKey
        default: return nil
        }
        constraint = info[.constraintName] ?? ""
    }
}
