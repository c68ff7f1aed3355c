import Core
import Foundation
import GRDB
import Store

extension SQLiteStore {
    // MARK: Ports

    /// Inserts a port. Throws `MACAlreadyExists`, `PortAlreadyExists`, or `NodeNotFound` /
    /// `PortgroupNotFound` when what it references is missing.
    public func createPort(_ port: NodePort) async throws -> NodePort {
        var port = port
        port.createdAt = ColumnCoding.normalized(port.createdAt)
        port.updatedAt = ColumnCoding.normalized(port.updatedAt)
        let arguments = StatementArguments(PortRow.values(of: port))
        let created = port
        try await write { db in
            do {
                try db.cachedStatement(sql: PortRow.insertSQL).execute(arguments: arguments)
            } catch let error as DatabaseError {
                throw try PortRow.conflict(error, created, db)
            }
        }
        return port
    }

    /// The port with this UUID. Throws `PortNotFound`.
    public func port(uuid: String) async throws -> NodePort {
        try await read { db in
            guard let port = try PortRow.fetchOne(db, uuid: uuid) else { throw IronicError.portNotFound(uuid) }
            return port
        }
    }

    /// Ports matching `query`, in its order, after its marker.
    public func ports(_ query: PortQuery) async throws -> [NodePort] {
        try await read { db in
            var select = SelectBuilder(table: "ports", columns: PortRow.selection)
            select.equal("node_uuid", query.nodeUUID)
            select.equal("portgroup_uuid", query.portgroupUUID)
            select.equal("address", query.address)
            try select.page(query.page, sortKeys: PortQuery.sortKeys, db: db)
            return try select.fetch(db, PortRow.decode)
        }
    }

    /// Writes every field of a port but its creation date, stamps `updatedAt`, and returns it
    /// as stored. Throws `PortNotFound`, `MACAlreadyExists`, `NodeNotFound` or `PortgroupNotFound`.
    public func savePort(_ port: NodePort) async throws -> NodePort {
        var port = port
        port.updatedAt = Date()
        let saved = port
        return try await updateRow(
            sql: PortRow.updateSQL, arguments: StatementArguments(PortRow.updateValues(of: saved)),
            conflict: { error, db in try PortRow.conflict(error, saved, db) },
            fetch: { db in try PortRow.fetchOne(db, uuid: saved.uuid) },
            notFound: { .portNotFound(saved.uuid) })
    }

    /// Deletes a port. Throws `PortNotFound`.
    public func deletePort(uuid: String) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM ports WHERE uuid = ?", arguments: [uuid])
            if db.changesCount == 0 { throw IronicError.portNotFound(uuid) }
        }
    }

    // MARK: Portgroups

    /// Inserts a portgroup. Throws `PortgroupAlreadyExists`, `PortgroupDuplicateName`,
    /// `PortgroupMACAlreadyExists` (Ironic's codes), or `NodeNotFound`.
    public func createPortgroup(_ portgroup: Portgroup) async throws -> Portgroup {
        var portgroup = portgroup
        portgroup.createdAt = ColumnCoding.normalized(portgroup.createdAt)
        portgroup.updatedAt = ColumnCoding.normalized(portgroup.updatedAt)
        let arguments = StatementArguments(PortgroupRow.values(of: portgroup))
        let created = portgroup
        try await write { db in
            do {
                try db.cachedStatement(sql: PortgroupRow.insertSQL).execute(arguments: arguments)
            } catch let error as DatabaseError {
                throw PortgroupRow.conflict(error, created)
            }
        }
        return portgroup
    }

    /// The portgroup with this UUID. Throws `PortgroupNotFound`.
    public func portgroup(uuid: String) async throws -> Portgroup {
        try await read { db in
            guard let group = try PortgroupRow.fetchOne(db, where: "uuid", uuid) else {
                throw IronicError.portgroupNotFound(uuid)
            }
            return group
        }
    }

    /// The portgroup with this name. Throws `PortgroupNotFound`.
    public func portgroup(name: String) async throws -> Portgroup {
        try await read { db in
            guard let group = try PortgroupRow.fetchOne(db, where: "name", name) else {
                throw IronicError.portgroupNotFound(name)
            }
            return group
        }
    }

    /// Portgroups matching `query`, in its order, after its marker.
    public func portgroups(_ query: PortgroupQuery) async throws -> [Portgroup] {
        try await read { db in
            var select = SelectBuilder(table: "portgroups", columns: PortgroupRow.selection)
            select.equal("node_uuid", query.nodeUUID)
            select.equal("address", query.address)
            try select.page(query.page, sortKeys: PortgroupQuery.sortKeys, db: db)
            return try select.fetch(db, PortgroupRow.decode)
        }
    }

    /// Writes every field of a portgroup but its creation date, stamps `updatedAt`, and returns
    /// it as stored. Throws `PortgroupNotFound`, or the conflicts of `createPortgroup`.
    public func savePortgroup(_ portgroup: Portgroup) async throws -> Portgroup {
        var portgroup = portgroup
        portgroup.updatedAt = Date()
        let saved = portgroup
        return try await updateRow(
            sql: PortgroupRow.updateSQL, arguments: StatementArguments(PortgroupRow.updateValues(of: saved)),
            conflict: { error, _ in PortgroupRow.conflict(error, saved) },
            fetch: { db in try PortgroupRow.fetchOne(db, where: "uuid", saved.uuid) },
            notFound: { .portgroupNotFound(saved.uuid) })
    }

    /// Deletes a portgroup. Throws `PortgroupNotFound`, or `PortgroupNotEmpty` while ports use it.
    public func deletePortgroup(uuid: String) async throws {
        try await write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM portgroups WHERE uuid = ?", arguments: [uuid]) != nil else {
                throw IronicError.portgroupNotFound(uuid)
            }
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM ports WHERE portgroup_uuid = ? LIMIT 1", arguments: [uuid]) != nil {
                throw IronicError.portgroupNotEmpty(uuid)
            }
            try db.execute(sql: "DELETE FROM portgroups WHERE uuid = ?", arguments: [uuid])
        }
    }
}

/// The `ports` table.
enum PortRow {
    static let columns = [
        "uuid", "address", "node_uuid", "portgroup_uuid", "local_link_connection", "pxe_enabled",
        "physical_network", "internal_info", "extra", "is_smartnic", "created_at", "updated_at",
    ]
    static let immutable: Set<String> = ["uuid", "created_at"]
    static let selection = columns.joined(separator: ", ")
    static let insertSQL = Columns.insertSQL(table: "ports", columns: columns)
    static let updateSQL = Columns.updateSQL(table: "ports", columns: columns, except: immutable)

    static func values(of port: NodePort) -> [DatabaseValue] {
        [
            port.uuid.databaseValue,
            port.address.databaseValue,
            port.nodeUUID.databaseValue,
            port.portgroupUUID.databaseValue,
            ColumnCoding.json(port.localLinkConnection).databaseValue,
            port.pxeEnabled.databaseValue,
            port.physicalNetwork.databaseValue,
            ColumnCoding.json(port.internalInfo).databaseValue,
            ColumnCoding.json(port.extra).databaseValue,
            port.isSmartNIC.databaseValue,
            ColumnCoding.micros(port.createdAt).databaseValue,
            port.updatedAt.micros.databaseValue,
        ]
    }

    static func updateValues(of port: NodePort) -> [DatabaseValue] {
        Columns.updateValues(columns: columns, values: values(of: port), except: immutable, key: port.uuid)
    }

    static func decode(_ row: Row) throws -> NodePort {
        var port = NodePort(uuid: row[0], address: row[1], nodeUUID: row[2], createdAt: row.date(10))
        port.portgroupUUID = row[3]
        port.localLinkConnection = try ColumnCoding.object(row[4])
        port.pxeEnabled = row[5]
        port.physicalNetwork = row[6]
        port.internalInfo = try ColumnCoding.object(row[7])
        port.extra = try ColumnCoding.object(row[8])
        port.isSmartNIC = row[9]
        port.updatedAt = row.optionalDate(11)
        return port
    }

    static func fetchOne(_ db: Database, uuid: String) throws -> NodePort? {
        let statement = try db.cachedStatement(sql: "SELECT \(selection) FROM ports WHERE uuid = ?")
        return try Row.fetchOne(statement, arguments: [uuid]).map(decode)
    }

    /// The `IronicError` for a constraint violation while writing `port`. A foreign key names no
    /// column, so the references are looked up.
    static func conflict(_ error: DatabaseError, _ port: NodePort, _ db: Database) throws -> any Error {
        let columns = error.uniqueColumns
        if columns.contains("ports.address") { return IronicError.macAlreadyExists(port.address) }
        if columns.contains("ports.uuid") { return IronicError.alreadyExists("Port", uuid: port.uuid) }
        if error.isForeignKeyViolation {
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM nodes WHERE uuid = ?", arguments: [port.nodeUUID]) == nil {
                return IronicError.nodeNotFound(port.nodeUUID)
            }
            return IronicError.portgroupNotFound(port.portgroupUUID ?? "")
        }
        return error
    }
}

/// The `portgroups` table.
enum PortgroupRow {
    static let columns = [
        "uuid", "name", "address", "node_uuid", "standalone_ports_supported", "mode", "properties",
        "internal_info", "extra", "created_at", "updated_at",
    ]
    static let immutable: Set<String> = ["uuid", "created_at"]
    static let selection = columns.joined(separator: ", ")
    static let insertSQL = Columns.insertSQL(table: "portgroups", columns: columns)
    static let updateSQL = Columns.updateSQL(table: "portgroups", columns: columns, except: immutable)

    static func values(of group: Portgroup) -> [DatabaseValue] {
        [
            group.uuid.databaseValue,
            group.name.databaseValue,
            group.address.databaseValue,
            group.nodeUUID.databaseValue,
            group.standalonePortsSupported.databaseValue,
            group.mode.databaseValue,
            ColumnCoding.json(group.properties).databaseValue,
            ColumnCoding.json(group.internalInfo).databaseValue,
            ColumnCoding.json(group.extra).databaseValue,
            ColumnCoding.micros(group.createdAt).databaseValue,
            group.updatedAt.micros.databaseValue,
        ]
    }

    static func updateValues(of group: Portgroup) -> [DatabaseValue] {
        Columns.updateValues(columns: columns, values: values(of: group), except: immutable, key: group.uuid)
    }

    static func decode(_ row: Row) throws -> Portgroup {
        var group = Portgroup(uuid: row[0], nodeUUID: row[3], createdAt: row.date(9))
        group.name = row[1]
        group.address = row[2]
        group.standalonePortsSupported = row[4]
        group.mode = row[5]
        group.properties = try ColumnCoding.object(row[6])
        group.internalInfo = try ColumnCoding.object(row[7])
        group.extra = try ColumnCoding.object(row[8])
        group.updatedAt = row.optionalDate(10)
        return group
    }

    static func fetchOne(_ db: Database, where column: String, _ value: String) throws -> Portgroup? {
        let statement = try db.cachedStatement(sql: "SELECT \(selection) FROM portgroups WHERE \(column) = ?")
        return try Row.fetchOne(statement, arguments: [value]).map(decode)
    }

    /// The `IronicError` for a constraint violation while writing `group`, with Ironic's codes.
    static func conflict(_ error: DatabaseError, _ group: Portgroup) -> any Error {
        let columns = error.uniqueColumns
        if columns.contains("portgroups.name") {
            return IronicError(
                status: 409, code: "PortgroupDuplicateName",
                message: "A portgroup with name \(group.name ?? "") already exists.")
        }
        if columns.contains("portgroups.address") {
            return IronicError(
                status: 409, code: "PortgroupMACAlreadyExists",
                message: "A portgroup with MAC address \(group.address ?? "") already exists.")
        }
        if columns.contains("portgroups.uuid") { return IronicError.alreadyExists("Portgroup", uuid: group.uuid) }
        if error.isForeignKeyViolation { return IronicError.nodeNotFound(group.nodeUUID) }
        return error
    }
}

/// SQL shared by the tables whose rows are written whole.
enum Columns {
    /// `INSERT INTO table (columns) VALUES (?, ...)`.
    static func insertSQL(table: String, columns: [String]) -> String {
        "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES ("
            + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
    }

    /// `UPDATE table SET column = ?, ... WHERE uuid = ?`, skipping `except`.
    static func updateSQL(table: String, columns: [String], except: Set<String>) -> String {
        "UPDATE \(table) SET " + columns.filter { !except.contains($0) }.map { "\($0) = ?" }.joined(separator: ", ")
            + " WHERE uuid = ?"
    }

    /// Arguments of `updateSQL`: the values of the written columns, then `key`.
    static func updateValues(columns: [String], values: [DatabaseValue], except: Set<String>, key: String) -> [DatabaseValue] {
        var result: [DatabaseValue] = []
        result.reserveCapacity(columns.count)
        for (column, value) in zip(columns, values) where !except.contains(column) { result.append(value) }
        result.append(key.databaseValue)
        return result
    }
}
