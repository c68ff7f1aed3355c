import Core
import PostgresNIO

extension PostgreSQLStore {
    /// A numbered schema change: statements run in order, in `upgrade()`'s transaction.
    struct Migration: Sendable {
        let identifier: String
        let statements: [String]
    }

    /// Every schema change, in order. Migrations are append-only: a released one never changes,
    /// a new version adds `"v2"`, `"v3"`, ... The schema version is the number applied, recorded
    /// in `schema_migrations`.
    static let migrations: [Migration] = [PostgreSQLSchemaV1.migration, PostgreSQLSchemaV2.migration]

    /// The advisory lock key `upgrade()` holds for its transaction ("ironicdb" in ASCII). Advisory
    /// locks are per database, so other databases on the server are not affected.
    static let migrationLockKey: Int64 = 0x6972_6F6E_6963_6462

    /// Applies every pending numbered migration in one transaction; returns the schema version
    /// reached. Running it again is a no-op.
    ///
    /// Several processes may call it at once: each takes `pg_advisory_xact_lock` first, so they
    /// run one after another, and the later ones find the migrations applied. PostgreSQL's DDL is
    /// transactional, so a failed migration leaves the database as it was.
    public func upgrade() async throws -> Int {
        try await transaction { tx in
            try await tx.run(SQLStatement("SELECT pg_advisory_xact_lock(\(Self.migrationLockKey))"))
            try await tx.run(
                SQLStatement(
                    """
                    CREATE TABLE IF NOT EXISTS schema_migrations (
                        identifier TEXT COLLATE "C" PRIMARY KEY,
                        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                    )
                    """))
            var applied = Set(
                try await tx.rows(SQLStatement("SELECT identifier FROM schema_migrations"))
                    .map { try Cells($0)[0] as String })
            for migration in Self.migrations where !applied.contains(migration.identifier) {
                for statement in migration.statements {
                    try await tx.run(SQLStatement(statement))
                }
                var record = SQLStatement("INSERT INTO schema_migrations (identifier) VALUES (")
                record.bind(.text(migration.identifier))
                record.append(")")
                try await tx.run(record)
                applied.insert(migration.identifier)
            }
            return Self.migrations.filter { applied.contains($0.identifier) }.count
        }
    }

    /// The number of numbered migrations applied; 0 for an empty database.
    public func schemaVersion() async throws -> Int {
        let table = try await fetch(SQLStatement("SELECT to_regclass('schema_migrations') IS NOT NULL")) {
            try $0[0] as Bool
        }
        guard table.first == true else { return 0 }
        let applied = Set(try await fetch(SQLStatement("SELECT identifier FROM schema_migrations")) { try $0[0] as String })
        return Self.migrations.filter { applied.contains($0.identifier) }.count
    }
}
