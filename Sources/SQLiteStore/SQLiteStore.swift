import Core
import Foundation
import GRDB
import Store

/// The embedded SQLite backend of `Store`, built on GRDB.
///
/// A file database is opened as a GRDB `DatabasePool` in WAL mode: readers never wait for the
/// writer, and several processes on one host (API and conductors) may share the file, waiting
/// up to `busyTimeout` for each other's write transactions. The schema is created and evolved
/// only by `upgrade()`; opening a store never changes it.
///
/// ```swift
/// let store = try SQLiteStore(connection: "sqlite:////var/lib/ironic/ironic.sqlite")
/// _ = try await store.upgrade()
/// let node = try await store.createNode(Node(driver: "fake-hardware"))
/// ```
///
/// Every method runs its SQL on GRDB's own dispatch queues (`read`/`write` async variants), so
/// callers on the cooperative pool only suspend. Errors are `IronicError`s; unexpected SQLite
/// failures become a 500 `IronicException` naming the SQLite error.
public final class SQLiteStore: Store {
    /// How long a write waits for another connection (or process) holding the write lock.
    public static let busyTimeout: TimeInterval = 5

    /// The connection pool (a file) or queue (in memory).
    let writer: any DatabaseWriter

    /// Opens (creating if needed) the database file at `path`, and its parent directories.
    ///
    /// The schema is not touched: call `upgrade()` (as `ironic-dbsync upgrade` does) before use.
    public init(path: String) throws {
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw IronicError.internalError(
                "Cannot create the directory of the database \(path): \(error.localizedDescription)")
        }
        do {
            writer = try Self.openPool(url.path)
        } catch {
            throw IronicError.internalError("Cannot open the database \(path): \(Self.describe(error))")
        }
    }

    /// How long opening a file keeps retrying while other connections hold it locked.
    public static let openTimeout: Duration = .seconds(30)

    /// Opens the file in WAL mode. Switching a file to WAL needs it to itself for a moment; when
    /// other processes keep it locked past the busy timeout (several conductors and an API
    /// starting and migrating together on a loaded host), SQLite answers "database is locked".
    /// That is retried, with a growing pause, for up to `openTimeout`.
    static func openPool(_ path: String) throws -> DatabasePool {
        let deadline = ContinuousClock.now + openTimeout
        var pause: Duration = .milliseconds(50)
        while true {
            do {
                return try DatabasePool(path: path, configuration: configuration())
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED {
                guard ContinuousClock.now + pause < deadline else { throw error }
                Thread.sleep(forTimeInterval: Double(pause.components.attoseconds) / 1e18 + Double(pause.components.seconds))
                pause = min(pause * 2, .seconds(1))
            }
        }
    }

    /// An empty private database living in memory, for tests. It has no schema until `upgrade()`.
    public static func inMemory() throws -> SQLiteStore {
        do {
            return SQLiteStore(writer: try DatabaseQueue(configuration: configuration()))
        } catch {
            throw IronicError.internalError("Cannot open an in-memory database: \(describe(error))")
        }
    }

    /// Opens the database named by an Ironic (SQLAlchemy) connection URL, `[database] connection`:
    ///
    /// - `sqlite:///relative/path.sqlite`: relative to the current directory;
    /// - `sqlite:////absolute/path.sqlite`: absolute;
    /// - `sqlite://` (or `sqlite:///:memory:`): a private in-memory database.
    ///
    /// Query parameters (`?timeout=...`) are ignored. Other schemes (`mysql+pymysql://`,
    /// `postgresql://`) throw: this store serves SQLite only.
    public convenience init(connection: String) throws {
        switch try Self.location(ofConnection: connection) {
        case .memory:
            do {
                self.init(writer: try DatabaseQueue(configuration: Self.configuration()))
            } catch {
                throw IronicError.internalError("Cannot open an in-memory database: \(Self.describe(error))")
            }
        case .file(let path):
            try self.init(path: path)
        }
    }

    init(writer: any DatabaseWriter) {
        self.writer = writer
    }

    /// Where a connection URL points.
    enum Location: Equatable {
        case memory
        case file(String)
    }

    /// Parses an Ironic `sqlite://` connection URL; relative paths are resolved against the
    /// current directory.
    static func location(ofConnection connection: String) throws -> Location {
        let prefix = "sqlite://"
        let scheme = connection.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
        guard connection.hasPrefix(prefix) else {
            if connection.contains("://") {
                throw IronicError.invalidParameterValue(
                    "The database connection scheme \"\(scheme)\" is not supported by the SQLite store; "
                        + "use sqlite:///<path>.")
            }
            throw IronicError.invalidParameterValue(
                "Invalid database connection \"\(connection)\": expected sqlite:///<path>.")
        }
        var rest = connection.dropFirst(prefix.count)
        if let query = rest.firstIndex(of: "?") { rest = rest[..<query] }
        if rest.isEmpty { return .memory }
        guard rest.hasPrefix("/") else {
            // `sqlite://host/...`: SQLite has no host.
            throw IronicError.invalidParameterValue(
                "Invalid database connection \"\(connection)\": a sqlite URL has no host; use sqlite:///<path>.")
        }
        let path = String(rest.dropFirst())
        if path.isEmpty || path == ":memory:" { return .memory }
        let decoded = path.removingPercentEncoding ?? path
        if decoded.hasPrefix("/") { return .file(decoded) }
        let cwd = FileManager.default.currentDirectoryPath
        return .file(URL(fileURLWithPath: cwd).appendingPathComponent(decoded).path)
    }

    static func configuration() -> Configuration {
        var config = Configuration()
        config.busyMode = .timeout(busyTimeout)
        config.foreignKeysEnabled = true
        config.label = "ironic"
        config.prepareDatabase { db in
            // In WAL mode NORMAL never corrupts the database; it only syncs at checkpoints,
            // which keeps node creation from paying one fsync per transaction.
            if db.configuration.readonly == false {
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
        }
        return config
    }

    // MARK: Schema

    /// Applies every pending numbered migration; returns the schema version reached (the number
    /// of migrations applied so far). Running it again is a no-op.
    ///
    /// Processes sharing the file may upgrade at the same time: GRDB applies each migration in
    /// its own transaction, so the loser of a race fails on the tables the winner just created,
    /// and succeeds here as long as the schema ends up complete.
    public func upgrade() async throws -> Int {
        let migrator = Self.migrator
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                migrator.asyncMigrate(writer) { result in
                    switch result {
                    case .success: continuation.resume()
                    case .failure(let error): continuation.resume(throwing: error)
                    }
                }
            }
        } catch {
            guard let version = try? await schemaVersion(), version == migrator.migrations.count else {
                throw Self.mapped(error)
            }
        }
        return try await schemaVersion()
    }

    /// The number of numbered migrations applied; 0 for an empty database.
    public func schemaVersion() async throws -> Int {
        try await read { db in try Self.migrator.appliedIdentifiers(db).count }
    }

    // MARK: Access

    /// Runs `body` in a read transaction, mapping SQLite errors.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await writer.read(body)
        } catch {
            throw Self.mapped(error)
        }
    }

    /// Runs `body` in an immediate write transaction, mapping SQLite errors.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await writer.write(body)
        } catch {
            throw Self.mapped(error)
        }
    }

    /// Runs one row's UPDATE and returns the row as stored: a constraint violation becomes
    /// `conflict`'s error, no row changed becomes `notFound`. Every `save*` goes through here.
    func updateRow<T: Sendable>(
        sql: String, arguments: StatementArguments,
        conflict: @escaping @Sendable (DatabaseError, Database) throws -> any Error,
        fetch: @escaping @Sendable (Database) throws -> T?,
        notFound: @escaping @Sendable () -> IronicError
    ) async throws -> T {
        try await write { db in
            do {
                try db.cachedStatement(sql: sql).execute(arguments: arguments)
            } catch let error as DatabaseError {
                throw try conflict(error, db)
            }
            guard db.changesCount > 0, let stored = try fetch(db) else { throw notFound() }
            return stored
        }
    }

    /// `IronicError`s and cancellation pass through; anything else is an internal error.
    static func mapped(_ error: any Error) -> any Error {
        switch error {
        case is IronicError, is CancellationError: error
        default: IronicError.internalError("Database error: \(describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return "\(error.resultCode): \(error.message ?? "unknown")"
        }
        return "\(error)"
    }
}

// MARK: - Shared helpers

extension DatabaseError {
    /// The `table.column`s named by a UNIQUE or PRIMARY KEY violation, e.g. `["nodes.name"]`.
    var uniqueColumns: Set<String> {
        guard resultCode == .SQLITE_CONSTRAINT,
            extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE || extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY,
            let message, let colon = message.range(of: "failed: ")
        else { return [] }
        return Set(message[colon.upperBound...].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
    }

    /// Whether this is a foreign key violation.
    var isForeignKeyViolation: Bool {
        resultCode == .SQLITE_CONSTRAINT && extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY
    }
}

extension Row {
    /// The date stored as microseconds at `index`.
    @inline(__always)
    func date(_ index: Int) -> Date {
        ColumnCoding.date(micros: self[index] as Int64)
    }

    /// The optional date stored as microseconds at `index`.
    @inline(__always)
    func optionalDate(_ index: Int) -> Date? {
        (self[index] as Int64?).map(ColumnCoding.date(micros:))
    }
}

extension Optional where Wrapped == Date {
    /// The column value of an optional date.
    var micros: Int64? { map(ColumnCoding.micros) }
}
