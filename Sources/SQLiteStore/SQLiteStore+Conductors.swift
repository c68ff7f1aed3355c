import Core
import Foundation
import GRDB
import Store

extension SQLiteStore {
    // MARK: Conductors

    /// Inserts the conductor's row, or updates it (keeping its creation date): online, its
    /// group and hardware types, and a heartbeat of now.
    public func registerConductor(_ conductor: ConductorRecord) async throws {
        let hardwareTypes = try ConductorRow.json(conductor.hardwareTypes)
        let now = ColumnCoding.micros(Date())
        let arguments: StatementArguments = [
            conductor.hostname, conductor.conductorGroup, hardwareTypes, ColumnCoding.micros(conductor.createdAt), now,
        ]
        try await write { db in
            try db.cachedStatement(sql: """
                INSERT INTO conductors (hostname, conductor_group, online, hardware_types, created_at, updated_at)
                VALUES (?, ?, 1, ?, ?, ?)
                ON CONFLICT(hostname) DO UPDATE SET
                    conductor_group = excluded.conductor_group, online = 1,
                    hardware_types = excluded.hardware_types, updated_at = excluded.updated_at
                """).execute(arguments: arguments)
        }
    }

    /// Stamps the conductor's heartbeat and, like Ironic's `touch_conductor`, marks it online.
    /// Throws `ConductorNotFound` when its row is gone.
    public func heartbeatConductor(hostname: String) async throws {
        let now = ColumnCoding.micros(Date())
        try await write { db in
            try db.cachedStatement(sql: "UPDATE conductors SET updated_at = ?, online = 1 WHERE hostname = ?")
                .execute(arguments: [now, hostname])
            if db.changesCount == 0 { throw IronicError.conductorNotFound(hostname) }
        }
    }

    /// Marks the conductor offline (graceful stop); a no-op for an unknown conductor.
    public func unregisterConductor(hostname: String) async throws {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE conductors SET online = 0 WHERE hostname = ?")
                .execute(arguments: [hostname])
        }
    }

    /// Every registered conductor, online or not, sorted by hostname.
    public func conductors() async throws -> [ConductorRecord] {
        try await read { db in
            let statement = try db.cachedStatement(
                sql: "SELECT \(ConductorRow.selection) FROM conductors ORDER BY hostname")
            return try Row.fetchAll(statement).map(ConductorRow.decode)
        }
    }

    /// One conductor. Throws `ConductorNotFound`.
    public func conductor(hostname: String) async throws -> ConductorRecord {
        try await read { db in
            let statement = try db.cachedStatement(
                sql: "SELECT \(ConductorRow.selection) FROM conductors WHERE hostname = ?")
            guard let row = try Row.fetchOne(statement, arguments: [hostname]) else {
                throw IronicError.conductorNotFound(hostname)
            }
            return try ConductorRow.decode(row)
        }
    }
}

/// The `conductors` table; hardware types are JSON (`[{"hardwareType": ..., "interfaces": ...}]`).
enum ConductorRow {
    static let selection = "hostname, conductor_group, online, hardware_types, created_at, updated_at"

    static func json(_ hardwareTypes: [HardwareTypeRegistration]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(hardwareTypes), as: UTF8.self)
    }

    static func decode(_ row: Row) throws -> ConductorRecord {
        let text: String = row[3]
        let hardwareTypes: [HardwareTypeRegistration]
        do {
            hardwareTypes = try JSONDecoder().decode([HardwareTypeRegistration].self, from: Data(text.utf8))
        } catch {
            throw IronicError.internalError("Conductor \(row[0] as String) has malformed hardware types: \(error)")
        }
        return ConductorRecord(
            hostname: row[0], conductorGroup: row[1], online: row[2], hardwareTypes: hardwareTypes,
            createdAt: row.date(4), updatedAt: row.date(5))
    }
}
