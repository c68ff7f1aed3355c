import Core
import Foundation
import PostgresNIO
import Store

extension PostgreSQLStore {
    // MARK: Chassis

    /// Inserts a chassis. Throws `ChassisAlreadyExists`.
    public func createChassis(_ chassis: Chassis) async throws -> Chassis {
        var chassis = chassis
        chassis.createdAt = ColumnCoding.normalized(chassis.createdAt)
        chassis.updatedAt = ColumnCoding.normalized(chassis.updatedAt)
        let uuid = chassis.uuid
        try await insert(TableRows.insert("chassis", ChassisRow.columns, ChassisRow.values(of: chassis))) { violation in
            violation.constraint == "uniq_chassis0uuid"
                ? IronicError.alreadyExists("Chassis", uuid: uuid)
                : IronicError.internalError("Database error: unexpected violation of \(violation.constraint)")
        }
        return chassis
    }

    /// The chassis with this UUID. Throws `ChassisNotFound`.
    public func chassis(uuid: String) async throws -> Chassis {
        var select = SQLStatement("SELECT \(ChassisRow.selection) FROM chassis WHERE uuid = ")
        select.bind(.text(uuid))
        guard let chassis = try await fetch(select, ChassisRow.decode).first else { throw IronicError.chassisNotFound(uuid) }
        return chassis
    }

    /// Chassis in `page` order, after its marker.
    public func chassisList(_ page: PageQuery) async throws -> [Chassis] {
        var select = SelectBuilder(table: "chassis", columns: ChassisRow.selection)
        try await select.page(page, sortKeys: ChassisSortKeys.all, store: self)
        return try await fetch(select.sql, ChassisRow.decode)
    }

    /// Writes a chassis's description and extra, stamps `updatedAt`, and returns it as stored.
    /// Throws `ChassisNotFound`.
    public func saveChassis(_ chassis: Chassis) async throws -> Chassis {
        var chassis = chassis
        chassis.updatedAt = Date()
        let saved = chassis
        return try await updateRow(
            TableRows.update(
                "chassis", ChassisRow.columns, ChassisRow.values(of: saved), except: ChassisRow.immutable,
                uuid: saved.uuid, returning: ChassisRow.selection),
            decode: ChassisRow.decode,
            conflict: { IronicError.internalError("Database error: unexpected violation of \($0.constraint)") },
            notFound: { .chassisNotFound(saved.uuid) })
    }

    /// Deletes a chassis. Throws `ChassisNotFound`, or `ChassisNotEmpty` while nodes use it
    /// (the nodes' foreign key refuses the delete).
    public func deleteChassis(uuid: String) async throws {
        var delete = SQLStatement("DELETE FROM chassis WHERE uuid = ")
        delete.bind(.text(uuid))
        delete.append(" RETURNING id")
        let deleted = try await deleteRow(delete) { .chassisNotEmpty(uuid) }
        if !deleted { throw IronicError.chassisNotFound(uuid) }
    }
}

/// The `chassis` table.
enum ChassisRow {
    static let columns = ["uuid", "description", "extra", "created_at", "updated_at"]
    static let immutable: Set<String> = ["uuid", "created_at"]
    static let selection = columns.joined(separator: ", ")

    static func values(of chassis: Chassis) -> [SQLValue] {
        [
            .text(chassis.uuid),
            .text(chassis.description),
            .json(chassis.extra),
            .timestamp(chassis.createdAt),
            .timestamp(chassis.updatedAt),
        ]
    }

    static func decode(_ row: Cells) throws -> Chassis {
        var chassis = Chassis(uuid: try row[0], createdAt: try row.date(3))
        chassis.description = try row[1]
        chassis.extra = try row.object(2)
        chassis.updatedAt = try row.optionalDate(4)
        return chassis
    }
}
