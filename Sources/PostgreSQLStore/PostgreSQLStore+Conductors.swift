import Core
import Foundation
import Store

extension PostgreSQLStore {
    // MARK: Conductors

    /// Inserts the conductor's row, or updates it (keeping its creation date): online, its
    /// group and hardware types, and a heartbeat of now. One `INSERT ... ON CONFLICT` statement.
    public func registerConductor(_ conductor: ConductorRecord) async throws {
        let hardwareTypes = try ConductorRow.json(conductor.hardwareTypes)
        var upsert = SQLStatement(
            "INSERT INTO conductors (hostname, conductor_group, online, hardware_types, created_at, updated_at) VALUES (")
        upsert.bindList([
            .text(conductor.hostname), .text(conductor.conductorGroup), .bool(true), .text(hardwareTypes),
            .timestamp(conductor.createdAt), .timestamp(Date()),
        ])
        upsert.append(
            """
            ) ON CONFLICT ON CONSTRAINT uniq_conductors0hostname DO UPDATE SET
                conductor_group = excluded.conductor_group, online = TRUE,
                hardware_types = excluded.hardware_types, updated_at = excluded.updated_at
            """)
        _ = try await rows(upsert)
    }

    /// Stamps the conductor's heartbeat and, like Ironic's `touch_conductor`, marks it online.
    /// Throws `ConductorNotFound` when its row is gone.
    public func heartbeatConductor(hostname: String) async throws {
        var update = SQLStatement("UPDATE conductors SET online = TRUE, updated_at = ")
        update.bind(.timestamp(Date()))
        update.append(" WHERE hostname = ")
        update.bind(.text(hostname))
        update.append(" RETURNING id")
        if try await rows(update).isEmpty { throw IronicError.conductorNotFound(hostname) }
    }

    /// Marks the conductor offline (graceful stop); a no-op for an unknown conductor.
    public func unregisterConductor(hostname: String) async throws {
        var update = SQLStatement("UPDATE conductors SET online = FALSE WHERE hostname = ")
        update.bind(.text(hostname))
        _ = try await rows(update)
    }

    /// Every registered conductor, online or not, sorted by hostname.
    public func conductors() async throws -> [ConductorRecord] {
        try await fetch(
            SQLStatement("SELECT \(ConductorRow.selection) FROM conductors ORDER BY hostname"), ConductorRow.decode)
    }

    /// One conductor. Throws `ConductorNotFound`.
    public func conductor(hostname: String) async throws -> ConductorRecord {
        var select = SQLStatement("SELECT \(ConductorRow.selection) FROM conductors WHERE hostname = ")
        select.bind(.text(hostname))
        guard let conductor = try await fetch(select, ConductorRow.decode).first else {
            throw IronicError.conductorNotFound(hostname)
        }
        return conductor
    }
}

/// The `conductors` table; hardware types are JSON (`[{"hardwareType": ..., "interfaces": ...}]`),
/// as in the SQLite store.
enum ConductorRow {
    static let selection = "hostname, conductor_group, online, hardware_types, created_at, updated_at"

    static func json(_ hardwareTypes: [HardwareTypeRegistration]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(hardwareTypes), as: UTF8.self)
    }

    static func decode(_ row: Cells) throws -> ConductorRecord {
        let hostname: String = try row[0]
        let text: String = try row[3]
        let hardwareTypes: [HardwareTypeRegistration]
        do {
            hardwareTypes = try JSONDecoder().decode([HardwareTypeRegistration].self, from: Data(text.utf8))
        } catch {
            throw IronicError.internalError("Conductor \(hostname) has malformed hardware types: \(error)")
        }
        return ConductorRecord(
            hostname: hostname, conductorGroup: try row[1], online: try row[2], hardwareTypes: hardwareTypes,
            createdAt: try row.date(4), updatedAt: try row.date(5))
    }
}
