import Core
import Foundation
import GRDB
import Store

extension SQLiteStore {
    // MARK: Chassis

    /// Inserts a chassis. Throws `ChassisAlreadyExists`.
    public func createChassis(_ chassis: Chassis) async throws -> Chassis {
        var chassis = chassis
        chassis.createdAt = ColumnCoding.normalized(chassis.createdAt)
        chassis.updatedAt = ColumnCoding.normalized(chassis.updatedAt)
        let arguments = StatementArguments(ChassisRow.values(of: chassis))
        let uuid = chassis.uuid
        try await write { db in
            do {
                try db.cachedStatement(sql: ChassisRow.insertSQL).execute(arguments: arguments)
            } catch let error as DatabaseError where error.uniqueColumns.contains("chassis.uuid") {
                throw IronicError.alreadyExists("Chassis", uuid: uuid)
            }
        }
        return chassis
    }

    /// The chassis with this UUID. Throws `ChassisNotFound`.
    public func chassis(uuid: String) async throws -> Chassis {
        try await read { db in
            guard let chassis = try ChassisRow.fetchOne(db, uuid: uuid) else { throw IronicError.chassisNotFound(uuid) }
            return chassis
        }
    }

    /// Chassis in `page` order, after its marker.
    public func chassisList(_ page: PageQuery) async throws -> [Chassis] {
        try await read { db in
            var select = SelectBuilder(table: "chassis", columns: ChassisRow.selection)
            try select.page(page, sortKeys: ChassisSortKeys.all, db: db)
            return try select.fetch(db, ChassisRow.decode)
        }
    }

    /// Writes a chassis's description and extra, stamps `updatedAt`, and returns it as stored.
    /// Throws `ChassisNotFound`.
    public func saveChassis(_ chassis: Chassis) async throws -> Chassis {
        var chassis = chassis
        chassis.updatedAt = Date()
        let saved = chassis
        return try await updateRow(
            sql: ChassisRow.updateSQL, arguments: StatementArguments(ChassisRow.updateValues(of: saved)),
            conflict: { error, _ in error },
            fetch: { db in try ChassisRow.fetchOne(db, uuid: saved.uuid) },
            notFound: { .chassisNotFound(saved.uuid) })
    }

    /// Deletes a chassis. Throws `ChassisNotFound`, or `ChassisNotEmpty` while nodes use it.
    public func deleteChassis(uuid: String) async throws {
        try await write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM chassis WHERE uuid = ?", arguments: [uuid]) != nil else {
                throw IronicError.chassisNotFound(uuid)
            }
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM nodes WHERE chassis_uuid = ? LIMIT 1", arguments: [uuid]) != nil {
                throw IronicError.chassisNotEmpty(uuid)
            }
            try db.execute(sql: "DELETE FROM chassis WHERE uuid = ?", arguments: [uuid])
        }
    }
}

/// The `chassis` table.
enum ChassisRow {
    static let columns = ["uuid", "description", "extra", "created_at", "updated_at"]
    static let immutable: Set<String> = ["uuid", "created_at"]
    static let selection = columns.joined(separator: ", ")
    static let insertSQL = Columns.insertSQL(table: "chassis", columns: columns)
    static let updateSQL = Columns.updateSQL(table: "chassis", columns: columns, except: immutable)

    static func values(of chassis: Chassis) -> [DatabaseValue] {
        [
            chassis.uuid.databaseValue,
            chassis.description.databaseValue,
            ColumnCoding.json(chassis.extra).databaseValue,
            ColumnCoding.micros(chassis.createdAt).databaseValue,
            chassis.updatedAt.micros.databaseValue,
        ]
    }

    static func updateValues(of chassis: Chassis) -> [DatabaseValue] {
        Columns.updateValues(columns: columns, values: values(of: chassis), except: immutable, key: chassis.uuid)
    }

    static func decode(_ row: Row) throws -> Chassis {
        var chassis = Chassis(uuid: row[0], createdAt: row.date(3))
        chassis.description = row[1]
        chassis.extra = try ColumnCoding.object(row[2])
        chassis.updatedAt = row.optionalDate(4)
        return chassis
    }

    static func fetchOne(_ db: Database, uuid: String) throws -> Chassis? {
        let statement = try db.cachedStatement(sql: "SELECT \(selection) FROM chassis WHERE uuid = ?")
        return try Row.fetchOne(statement, arguments: [uuid]).map(decode)
    }
}
